/* convert/: safetensors (fp32, fp16, bf16, i64; every corrupt-header case), pytorch_model.bin
 * (same tensors as the safetensors copy; a forbidden global; a truncated zip; strided and
 * out-of-range tensors), sharded index files, config.json defaults and errors, and the
 * builder's shape checks. Every error must name the file and the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert/convert_internal.h"
#include "dpuflow/base.h"
#include "graph/ir.h"

#define HF DF_SOURCE_DIR "/tests/fixtures/hf"
#define BAD DF_SOURCE_DIR "/tests/fixtures/convert"

static char g_dir[256];

static int setup(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/df_convert_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A safetensors image: u64 LE header length, header, data. */
static uint8_t *st_image(const char *hdr, const void *data, size_t n, size_t *size) {
    size_t h = strlen(hdr);
    *size = 8 + h + n;
    uint8_t *b = malloc(*size);
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)h >> (8 * k));
    memcpy(b + 8, hdr, h);
    if (n) memcpy(b + 8 + h, data, n);
    return b;
}

static df_status st_parse(const char *hdr, const void *data, size_t n, df_checkpoint **c, df_error *err) {
    size_t size;
    uint8_t *img = st_image(hdr, data, n, &size);
    df_status st = df_checkpoint_open_safetensors_buffer(img, size, "mem.safetensors", c, err);
    if (st) free(img);
    else df_checkpoint_close(*c), *c = NULL, free(img); /* callers re-parse when they need data */
    return st;
}

static void test_safetensors_fp32_file(void **state) {
    (void)state;
    df_checkpoint *c = NULL;
    df_error err = {0};
    assert_int_equal(df_checkpoint_open(HF "/bert_pooler", &c, &err), DF_OK);
    int i = df_checkpoint_find(c, "embeddings.word_embeddings.weight");
    assert_true(i >= 0);
    df_dtype dt;
    df_shape s;
    df_checkpoint_info(c, (size_t)i, NULL, &dt, &s);
    assert_int_equal(dt, DF_F32);
    assert_int_equal(s.rank, 2);
    assert_int_equal(s.dims[0], 238);
    assert_int_equal(s.dims[1], 32);
    df_tensor t;
    assert_int_equal(df_checkpoint_get(c, (size_t)i, &t, &err), DF_OK);
    const float *w = t.data;
    for (int k = 0; k < 32; k++) assert_true(w[k] == 0.0f); /* the [PAD] row is zeroed */
    assert_true(w[32] != 0.0f);
    df_tensor_free(&t);
    assert_non_null(strstr(df_checkpoint_file(c, (size_t)i), "bert_pooler/model.safetensors"));
    df_checkpoint_close(c);
}

static void test_safetensors_fp16_file(void **state) {
    (void)state;
    df_checkpoint *c = NULL;
    df_error err = {0};
    assert_int_equal(df_checkpoint_open(HF "/bert_mean/model.safetensors", &c, &err), DF_OK);
    size_t n = df_checkpoint_count(c);
    assert_true(n > 30);
    for (size_t i = 0; i < n; i++) {
        df_dtype dt;
        df_checkpoint_info(c, i, NULL, &dt, NULL);
        assert_int_equal(dt, DF_F16);
        df_tensor t;
        assert_int_equal(df_checkpoint_get(c, i, &t, &err), DF_OK);
        assert_int_equal(t.dtype, DF_F32);
        for (size_t k = 0; k < t.nbytes / 4; k++) assert_true(isfinite(((float *)t.data)[k]));
        df_tensor_free(&t);
    }
    df_checkpoint_close(c);
}

static void test_safetensors_dtypes(void **state) {
    (void)state;
    /* F16: 1, -2, 65504, smallest subnormal, +inf; BF16: 1, -0.5; I64: -3, 7 */
    uint8_t data[10 + 4 + 16];
    const uint16_t h[5] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00};
    const uint16_t bf[2] = {0x3f80, 0xbf00};
    const int64_t l[2] = {-3, 7};
    memcpy(data, h, 10);
    memcpy(data + 10, bf, 4);
    memcpy(data + 14, l, 16);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[10,14]},"
                      "\"l\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[14,30]}}";
    size_t size;
    uint8_t *img = st_image(hdr, data, sizeof data, &size);
    df_checkpoint *c = NULL;
    df_error err = {0};
    assert_int_equal(df_checkpoint_open_safetensors_buffer(img, size, "mem", &c, &err), DF_OK);
    assert_int_equal(df_checkpoint_count(c), 3);
    df_tensor t;
    assert_int_equal(df_checkpoint_get(c, (size_t)df_checkpoint_find(c, "h"), &t, &err), DF_OK);
    const float *f = t.data;
    assert_true(f[0] == 1.0f && f[1] == -2.0f && f[2] == 65504.0f);
    assert_true(f[3] == ldexpf(1.0f, -24));
    assert_true(isinf(f[4]) && f[4] > 0);
    df_tensor_free(&t);
    assert_int_equal(df_checkpoint_get(c, (size_t)df_checkpoint_find(c, "b"), &t, &err), DF_OK);
    assert_true(((float *)t.data)[0] == 1.0f && ((float *)t.data)[1] == -0.5f);
    df_tensor_free(&t);
    assert_int_equal(df_checkpoint_get(c, (size_t)df_checkpoint_find(c, "l"), &t, &err), DF_OK);
    assert_int_equal(t.dtype, DF_I64);
    assert_true(((int64_t *)t.data)[0] == -3 && ((int64_t *)t.data)[1] == 7);
    df_tensor_free(&t);
    df_checkpoint_close(c);
    free(img);
}

static void expect_st_error(const char *hdr, size_t n_data, df_status want, const char *needle) {
    uint8_t data[64] = {0};
    df_checkpoint *c = NULL;
    df_error err = {0};
    df_status st = st_parse(hdr, data, n_data, &c, &err);
    if (st != want || !strstr(err.msg, needle) || !strstr(err.msg, "mem.safetensors"))
        fail_msg("header %s: got status %d '%s', want %d containing '%s'", hdr, st, err.msg, want, needle);
}

static void test_safetensors_corrupt_headers(void **state) {
    (void)state;
    df_checkpoint *c = NULL;
    df_error err = {0};
    /* Too short, and a length past the end. */
    assert_int_equal(df_checkpoint_open_safetensors_buffer("abc", 3, "mem.safetensors", &c, &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "too short"));
    assert_int_equal(df_checkpoint_open(BAD "/corrupt_header.safetensors", &c, &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "corrupt_header.safetensors"));
    assert_non_null(strstr(err.msg, "header length"));
    assert_int_equal(df_checkpoint_open(BAD "/bad_json.safetensors", &c, &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "not valid JSON"));

    expect_st_error("[1,2]", 0, DF_EFORMAT, "not a JSON object");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, DF_EFORMAT, "'a'");
    expect_st_error("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, DF_EUNSUPPORTED, "dtype 'Q4'");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, DF_EFORMAT, "shape[0]");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, DF_EFORMAT, "run past the data");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, DF_EFORMAT, "12 expected");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, DF_EFORMAT, "begin <= end");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                    16, DF_EFORMAT, "overlap");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                    16, DF_EFORMAT, "not valid JSON"); /* duplicate keys */
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, DF_EUNSUPPORTED, "rank");
    expect_st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
                    DF_EFORMAT, "overflow");
}

static void test_bin_matches_safetensors(void **state) {
    (void)state;
    df_checkpoint *st = NULL, *bin = NULL;
    df_error err = {0};
    assert_int_equal(df_checkpoint_open(HF "/bert_tiny/model.safetensors", &st, &err), DF_OK);
    assert_int_equal(df_checkpoint_open(HF "/bert_tiny/pytorch_model.bin", &bin, &err), DF_OK);
    /* The .bin also holds the legacy int64 position_ids buffer. */
    assert_int_equal(df_checkpoint_count(bin), df_checkpoint_count(st) + 1);
    int pid = df_checkpoint_find(bin, "bert.embeddings.position_ids");
    assert_true(pid >= 0);
    df_tensor p;
    assert_int_equal(df_checkpoint_get(bin, (size_t)pid, &p, &err), DF_OK);
    assert_int_equal(p.dtype, DF_I64);
    assert_true(((int64_t *)p.data)[5] == 5);
    df_tensor_free(&p);
    for (size_t i = 0; i < df_checkpoint_count(st); i++) {
        const char *name;
        df_checkpoint_info(st, i, &name, NULL, NULL);
        int j = df_checkpoint_find(bin, name);
        if (j < 0) fail_msg("%s missing from the .bin", name);
        df_tensor a, b;
        assert_int_equal(df_checkpoint_get(st, i, &a, &err), DF_OK);
        assert_int_equal(df_checkpoint_get(bin, (size_t)j, &b, &err), DF_OK);
        assert_true(df_shape_equal(&a.shape, &b.shape));
        assert_memory_equal(a.data, b.data, a.nbytes);
        df_tensor_free(&a);
        df_tensor_free(&b);
    }
    df_checkpoint_close(st);
    df_checkpoint_close(bin);
}

static void test_bin_bad(void **state) {
    (void)state;
    df_checkpoint *c = NULL;
    df_error err = {0};
    assert_int_equal(df_checkpoint_open(BAD "/evil_global.bin", &c, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "pickle global 'os.system' is not allowed"));
    assert_non_null(strstr(err.msg, "evil_global.bin"));
    assert_int_equal(df_checkpoint_open(BAD "/truncated_model.bin", &c, &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "truncated_model.bin"));
    assert_null(c);
}

static df_status pickle(const char *bytes, size_t n, df_error *err) {
    df_pk_tensor *t = NULL;
    size_t count = 0;
    df_status st = df_pickle_state_dict((const uint8_t *)bytes, n, "t.pkl", &t, &count, err);
    df_pk_tensors_free(t, count);
    return st;
}

/* {'w': _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', NUMEL), OFF, (2, 3), STRIDE, False, OrderedDict())} */
static size_t tensor_pickle(char *out, int numel, int off, int s0, int s1) {
    size_t n = 0;
#define PUT(s) (memcpy(out + n, s, sizeof(s) - 1), n += sizeof(s) - 1)
    PUT("\x80\x02}(X\x01\x00\x00\x00" "w");
    PUT("ctorch._utils\n_rebuild_tensor_v2\n(");
    PUT("(X\x07\x00\x00\x00" "storage" "ctorch\nFloatStorage\n" "X\x01\x00\x00\x00" "0" "X\x03\x00\x00\x00" "cpu" "K");
    out[n++] = (char)numel;
    PUT("tQK");
    out[n++] = (char)off;
    PUT("K\x02K\x03\x86K");
    out[n++] = (char)s0;
    out[n++] = 'K';
    out[n++] = (char)s1;
    PUT("\x86\x89" "ccollections\nOrderedDict\n)RtRu.");
#undef PUT
    return n;
}

static void test_pickle_machine(void **state) {
    (void)state;
    char buf[256];
    df_error err = {0};
    df_pk_tensor *t = NULL;
    size_t count = 0;
    size_t n = tensor_pickle(buf, 8, 2, 3, 1);
    assert_int_equal(df_pickle_state_dict((const uint8_t *)buf, n, "t.pkl", &t, &count, &err), DF_OK);
    assert_int_equal(count, 1);
    assert_string_equal(t[0].name, "w");
    assert_string_equal(t[0].storage_key, "0");
    assert_int_equal(t[0].offset, 2);
    assert_int_equal(t[0].shape.dims[1], 3);
    df_pk_tensors_free(t, count);
    /* Strided (transposed) view. */
    n = tensor_pickle(buf, 8, 0, 1, 2);
    assert_int_equal(pickle(buf, n, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "'w' is not contiguous"));
    /* Offset + size past the storage. */
    n = tensor_pickle(buf, 6, 1, 3, 1);
    assert_int_equal(pickle(buf, n, &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "outside its storage"));
    /* Every truncation of a valid pickle fails cleanly. */
    n = tensor_pickle(buf, 8, 0, 3, 1);
    for (size_t k = 0; k < n; k++) assert_int_not_equal(pickle(buf, k, &err), DF_OK);
    /* Unknown opcode, and a global allowed name used the wrong way. */
    assert_int_equal(pickle("\x80\x02i", 3, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "opcode 0x69"));
    assert_int_equal(pickle("\x80\x02" "cbuiltins\neval\n.", 17, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "'builtins.eval'"));
    assert_int_equal(pickle("\x80\x02" "ctorch\nFloatStorage\n)R.", 24, &err), DF_EUNSUPPORTED);
    assert_int_equal(pickle("\x80\x02]q\x00.", 6, &err), DF_EFORMAT); /* a list, not a dict */
    assert_int_equal(pickle("\x80\x02h\x05.", 5, &err), DF_EFORMAT);  /* memo never set */
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_sharded_index(void **state) {
    (void)state;
    char p[512];
    float v[2] = {1.5f, -2.5f};
    size_t size;
    uint8_t *img = st_image("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", v, 8, &size);
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", g_dir);
    write_file(p, img, size);
    free(img);
    img = st_image("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", v, 4, &size);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", g_dir);
    write_file(p, img, size);
    free(img);
    const char *idx = "{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                      "\"b\":\"model-00002-of-00002.safetensors\"}}";
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", g_dir);
    write_file(p, idx, strlen(idx));
    df_checkpoint *c = NULL;
    df_error err = {0};
    assert_int_equal(df_checkpoint_open(g_dir, &c, &err), DF_OK);
    assert_int_equal(df_checkpoint_count(c), 2);
    size_t nf;
    df_checkpoint_files(c, &nf);
    assert_int_equal(nf, 3);
    df_tensor t;
    assert_int_equal(df_checkpoint_get(c, (size_t)df_checkpoint_find(c, "b"), &t, &err), DF_OK);
    assert_true(((float *)t.data)[0] == 1.5f);
    df_tensor_free(&t);
    df_checkpoint_close(c);
    /* An index naming a tensor its shard lacks, and one escaping the folder. */
    idx = "{\"weight_map\":{\"zz\":\"model-00002-of-00002.safetensors\"}}";
    write_file(p, idx, strlen(idx));
    assert_int_equal(df_checkpoint_open(p, &c, &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "'zz'"));
    idx = "{\"weight_map\":{\"a\":\"../x.safetensors\"}}";
    write_file(p, idx, strlen(idx));
    assert_int_equal(df_checkpoint_open(p, &c, &err), DF_EFORMAT);
    assert_non_null(strstr(err.msg, "not a file beside the index"));
}

static void test_config(void **state) {
    (void)state;
    df_hf_config c;
    df_error err = {0};
    assert_int_equal(df_hf_config_load(HF "/bert_tiny/config.json", &c, &err), DF_OK);
    assert_string_equal(c.model_type, "bert");
    assert_string_equal(c.architecture, "BertForSequenceClassification");
    assert_int_equal(c.num_labels, 3);
    assert_string_equal(c.labels[2], "投诉");
    df_hf_config_free(&c);
    assert_int_equal(df_hf_config_load(HF "/xlmr_tiny/config.json", &c, &err), DF_OK);
    assert_int_equal(c.pad_token_id, 1);
    assert_true(c.layer_norm_eps == 1e-5);
    df_hf_config_free(&c);

    /* TinyBERT-era config: no model_type, no layer_norm_eps, no pad_token_id. */
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", g_dir);
    const char *tiny = "{\"hidden_size\":312,\"num_hidden_layers\":4,\"num_attention_heads\":12,"
                       "\"intermediate_size\":1200,\"vocab_size\":21128}";
    write_file(p, tiny, strlen(tiny));
    assert_int_equal(df_hf_config_load(p, &c, &err), DF_OK);
    assert_string_equal(c.model_type, "bert");
    assert_true(c.layer_norm_eps == 1e-12);
    assert_int_equal(c.pad_token_id, 0);
    assert_int_equal(c.type_vocab_size, 2);
    assert_int_equal(c.max_position_embeddings, 512);
    df_hf_config_free(&c);

    assert_int_equal(df_hf_config_load(BAD "/config_missing_hidden_size.json", &c, &err), DF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "config_missing_hidden_size.json"));
    assert_non_null(strstr(err.msg, "'hidden_size'"));
    assert_int_equal(df_hf_config_load(BAD "/config_relu.json", &c, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "hidden_act 'relu'"));
    const char *wrong = "{\"hidden_size\":\"312\",\"num_hidden_layers\":4}";
    write_file(p, wrong, strlen(wrong));
    assert_int_equal(df_hf_config_load(p, &c, &err), DF_ETYPE);
    assert_non_null(strstr(err.msg, "'hidden_size' must be an integer"));
    const char *heads = "{\"hidden_size\":30,\"num_hidden_layers\":4,\"num_attention_heads\":4,"
                        "\"intermediate_size\":1200,\"vocab_size\":21128}";
    write_file(p, heads, strlen(heads));
    assert_int_equal(df_hf_config_load(p, &c, &err), DF_EINVAL);
    assert_non_null(strstr(err.msg, "multiple of num_attention_heads"));
    const char *mt = "{\"model_type\":\"gpt2\",\"hidden_size\":32}";
    write_file(p, mt, strlen(mt));
    assert_int_equal(df_hf_config_load(p, &c, &err), DF_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "model_type 'gpt2'"));
}

static void test_builder(void **state) {
    (void)state;
    df_graph *g = NULL;
    df_error err = {0};
    df_export_info info;
    df_export_opts o = {.seq = 16};
    assert_int_equal(df_export_hf_graph(HF "/bert_tiny", &o, &g, &info, &err), DF_OK);
    assert_string_equal(info.output_name, "logits");
    assert_int_equal(info.n_inputs, 3);
    assert_int_equal(info.output_shape[1], 3);
    assert_int_equal(df_graph_infer_opts(g, false, &err), DF_OK);
    const df_value *out = &g->values[g->outputs[0]];
    assert_string_equal(out->name, "logits");
    assert_int_equal(out->shape.rank, 2);
    assert_int_equal(out->shape.dims[1], 3);
    for (int i = 0; i < g->n_nodes; i++) assert_true(strcmp(g->nodes[i].op_type, "LayerNormalization") != 0);
    df_graph_free(g);

    /* XLM-R: no token_type_ids input; positions come from input_ids. */
    assert_int_equal(df_export_hf_graph(HF "/xlmr_tiny", &(df_export_opts){.output = "cls"}, &g, &info, &err), DF_OK);
    assert_int_equal(info.n_inputs, 2);
    assert_int_equal(info.seq, 64);
    int cumsum = 0;
    for (int i = 0; i < g->n_nodes; i++) cumsum += !strcmp(g->nodes[i].op_type, "CumSum");
    assert_int_equal(cumsum, 1);
    df_graph_free(g);

    /* Shape disagreement between config and checkpoint names tensor, file, config field. */
    o.config_path = BAD "/config_wrong_intermediate.json";
    assert_int_equal(df_export_hf_graph(HF "/bert_pooler", &o, &g, &info, &err), DF_ESHAPE);
    assert_non_null(strstr(err.msg, "'encoder.layer.0.intermediate.dense.weight' has shape [64,32]"));
    assert_non_null(strstr(err.msg, "expects [48,32]"));
    assert_non_null(strstr(err.msg, "intermediate_size"));
    /* logits from a bare encoder, an unknown head, a bad opset. */
    assert_int_equal(df_export_hf_graph(HF "/bert_pooler", &(df_export_opts){.output = "logits"}, &g, NULL, &err), DF_EINVAL);
    assert_int_equal(df_export_hf_graph(HF "/bert_pooler", &(df_export_opts){.output = "max"}, &g, NULL, &err), DF_EINVAL);
    assert_int_equal(df_export_hf_graph(HF "/bert_pooler", &(df_export_opts){.opset = 9}, &g, NULL, &err), DF_EUNSUPPORTED);
    /* Missing tensor: the weights of another model. */
    o = (df_export_opts){.weights_path = HF "/xlmr_tiny/model.safetensors"};
    assert_int_not_equal(df_export_hf_graph(HF "/bert_pooler", &o, &g, NULL, &err), DF_OK);
    assert_non_null(strstr(err.msg, "xlmr_tiny/model.safetensors"));
}

static void test_export_writes_files(void **state) {
    (void)state;
    char onnx[512], meta[512];
    snprintf(onnx, sizeof onnx, "%s/m.onnx", g_dir);
    snprintf(meta, sizeof meta, "%s/m.json", g_dir);
    df_error err = {0};
    assert_int_equal(df_export_hf(HF "/bert_mean", &(df_export_opts){.output = "mean", .seq = 8}, onnx, meta, &err), DF_OK);
    void *buf;
    size_t n;
    assert_int_equal(df_file_read_all(meta, &buf, &n, 0, &err), DF_OK);
    assert_non_null(strstr(buf, "\"output_name\": \"sentence_embedding\""));
    assert_non_null(strstr(buf, "\"input_shape\": [\n    1,\n    8\n  ]"));
    assert_non_null(strstr(buf, "\"file\": \"model.safetensors\""));
    assert_non_null(strstr(buf, "\"file\": \"vocab.txt\""));
    free(buf);
    /* A failing export leaves neither file. */
    unlink(onnx);
    unlink(meta);
    assert_int_not_equal(df_export_hf(HF "/bert_mean", &(df_export_opts){.output = "nope"}, onnx, meta, &err), DF_OK);
    assert_int_not_equal(access(onnx, F_OK), 0);
    assert_int_not_equal(access(meta, F_OK), 0);
}

/* Replaces every `from` in buf[0, n) by `to` of the same length. */
static void replace_all(char *buf, size_t n, const char *from, const char *to) {
    size_t l = strlen(from);
    for (size_t k = 0; k + l <= n; k++)
        if (!memcmp(buf + k, from, l)) memcpy(buf + k, to, l);
}

static void test_gamma_beta_names(void **state) {
    (void)state;
    void *buf;
    size_t n;
    df_error err = {0};
    assert_int_equal(df_file_read_all(HF "/bert_pooler/model.safetensors", &buf, &n, 0, &err), DF_OK);
    /* JSON allows a space after a key, so the header keeps its length. */
    replace_all(buf, n, "LayerNorm.weight\"", "LayerNorm.gamma\" ");
    replace_all(buf, n, "LayerNorm.bias\"", "LayerNorm.beta\"");
    char p[512];
    snprintf(p, sizeof p, "%s/old/", g_dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/old/model.safetensors", g_dir);
    write_file(p, buf, n);
    free(buf);
    df_checkpoint *c = NULL;
    assert_int_equal(df_checkpoint_open(p, &c, &err), DF_OK);
    assert_true(df_checkpoint_find(c, "embeddings.LayerNorm.gamma") >= 0);
    assert_true(df_checkpoint_find(c, "embeddings.LayerNorm.weight") < 0);
    df_checkpoint_close(c);
    df_graph *g = NULL;
    df_export_opts o = {.seq = 16, .config_path = HF "/bert_pooler/config.json", .weights_path = p};
    assert_int_equal(df_export_hf_graph(HF "/bert_pooler", &o, &g, NULL, &err), DF_OK);
    df_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_fp32_file),
        cmocka_unit_test(test_safetensors_fp16_file),
        cmocka_unit_test(test_safetensors_dtypes),
        cmocka_unit_test(test_safetensors_corrupt_headers),
        cmocka_unit_test(test_bin_matches_safetensors),
        cmocka_unit_test(test_bin_bad),
        cmocka_unit_test(test_pickle_machine),
        cmocka_unit_test(test_sharded_index),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_export_writes_files),
        cmocka_unit_test(test_gamma_beta_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
