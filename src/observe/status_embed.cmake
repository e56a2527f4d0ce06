# The status page lives in status.html (edited as HTML); the build turns it into a C array.
# Included from the top-level CMakeLists.txt after the dpuflow target exists; the same file,
# run with `cmake -P` and IN/OUT set, does the conversion (no xxd dependency).
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ ${IN} hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR n "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
  file(WRITE ${OUT}.tmp "/* generated from src/observe/status.html; do not edit */\n#include <stddef.h>\nconst char df_status_html[] = {\n${body}0};\nconst size_t df_status_html_len = ${n};\n")
  file(RENAME ${OUT}.tmp ${OUT})
else()
  set(DF_STATUS_HTML ${CMAKE_SOURCE_DIR}/src/observe/status.html)
  set(DF_STATUS_C ${CMAKE_BINARY_DIR}/gen/observe/status_html.c)
  add_custom_command(
    OUTPUT ${DF_STATUS_C}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/gen/observe
    COMMAND ${CMAKE_COMMAND} -DIN=${DF_STATUS_HTML} -DOUT=${DF_STATUS_C} -P ${CMAKE_SOURCE_DIR}/src/observe/status_embed.cmake
    DEPENDS ${DF_STATUS_HTML} ${CMAKE_SOURCE_DIR}/src/observe/status_embed.cmake
    COMMENT "embed status.html")
  target_sources(dpuflow PRIVATE ${DF_STATUS_C})
endif()
