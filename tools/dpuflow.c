#include <stdio.h>
int main(void) { puts("dpuflow: under construction"); return 0; }
