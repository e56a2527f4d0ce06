/* Calibration corpora: sentences -> tokenized [N, seq] arrays named as the model's inputs.
 * It lives in pipeline/ because it needs the tokenizer (text/), which quant/ must not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpuflow/base.h"
#include "dpuflow/onnx.h"
#include "dpuflow/quant.h"
#include "dpuflow/text.h"
#include "graph/ir.h"

/* Written for dpuflow: what people say at government service counters (social security,
 * medical insurance, household registration, housing fund, business licences, exit-entry,
 * tax), ask a local question-answering system, or record at factory inspection stations.
 * Lengths run from 5 to about 60 characters; some carry digits and Latin letters, since
 * real queries do. */
static const char *const builtin[] = {
    "社保卡丢了怎么补办？",
    "我想查询一下今年的医保缴费记录",
    "新生儿落户需要准备哪些材料，父母双方都要到场吗？",
    "公积金提取",
    "营业执照经营范围变更可以在网上办理吗",
    "护照过期了，换发新护照大概需要几个工作日？",
    "个人所得税年度汇算在哪里申报",
    "请问2号窗口今天下午几点开始办公？",
    "退休人员异地就医备案怎么操作，需要回参保地吗？",
    "身份证到期换领",
    "我在外地工作了三年，社保关系怎么转移回来？中间断缴的月份能补缴吗？",
    "租房提取住房公积金每年最多能取多少钱",
    "个体工商户注销",
    "港澳通行证续签一次有效期是多久",
    "发票丢失了怎么办理挂失，需要登报声明吗",
    "小孩上学需要开居住证明，去哪个部门开？",
    "灵活就业人员怎么缴纳职工医保？每月大概多少钱？",
    "办理居住证需要带什么材料",
    "公司法人变更需要股东会决议原件吗",
    "增值税小规模纳税人季度销售额不超过30万元还要申报吗",
    "医保报销比例是多少",
    "我要预约办理出入境证件，网上预约系统一直显示满号，还有别的办法吗？",
    "户口迁移证明丢失能补开吗",
    "今天排队的人多吗",
    "失业保险金每个月什么时候发放？领取期间还能交社保吗？",
    "在哪里打印社保参保证明",
    "APP上提交的公积金贷款申请审核要多长时间",
    "老人的养老金资格认证可以在手机上做吗",
    "停车场在哪里",
    "附近哪家医院可以用省医保卡直接结算",
    "夜班结束前请检查3号产线所有设备的温度和压力读数",
    "A区传送带电机异响，请安排维修人员到现场查看",
    "巡检发现2号配电柜门未上锁",
    "焊缝表面有气孔和裂纹，判定为不合格，隔离待复检",
    "本批次产品抽检50件，合格率96%，两件尺寸超差",
    "空压机出口压力0.65MPa，正常",
    "消防通道被物料堆放堵塞，已通知班组长立即清理",
    "请记录今天上午10点的锅炉水位和燃烧情况",
    "叉车司机未佩戴安全帽",
    "冷却水泵轴承温度达到85摄氏度，超过报警阈值，建议停机检查",
    "这个月的安全培训安排在周四下午吗",
    "PLC控制柜显示E-203故障代码是什么意思",
    "仓库湿度偏高，纸箱有受潮现象",
    "明天会下雨吗",
    "图书馆周末开放时间是几点到几点",
    "社区有没有免费的老年人体检",
    "孩子打疫苗需要提前预约吗？在哪个社区卫生服务中心？",
    "垃圾分类投放时间是怎么规定的",
    "办事大厅有WiFi吗，密码是多少",
    "我想投诉窗口工作人员服务态度不好，应该找谁反映？",
};

const char *const *df_calib_builtin(size_t *count) {
    if (count) *count = sizeof builtin / sizeof builtin[0];
    return builtin;
}

typedef enum { ROLE_IDS, ROLE_MASK, ROLE_TYPES } input_role;

typedef struct model_input {
    char name[128];
    input_role role;
    df_dtype dtype;
} model_input;

static df_status read_model_inputs(const char *model, model_input *in, int *n, df_error *err) {
    df_graph *g = NULL;
    df_status st = df_onnx_load(model, &g, err);
    if (st) return st;
    *n = 0;
    for (int k = 0; k < g->n_inputs; k++) {
        const df_value *v = &g->values[g->inputs[k]];
        if (v->has_const) continue;
        if (*n == 8) {
            st = df_error_set(err, DF_EUNSUPPORTED, "%s: more than 8 inputs", model);
            break;
        }
        model_input *m = &in[(*n)++];
        snprintf(m->name, sizeof m->name, "%s", v->name);
        m->dtype = v->dtype == DF_I32 ? DF_I32 : DF_I64;
        if (v->dtype != DF_I32 && v->dtype != DF_I64) {
            st = df_error_set(err, DF_ETYPE, "%s: input '%s' is %s; a text model's inputs are int64 or int32", model,
                              v->name, df_dtype_name(v->dtype));
            break;
        }
        if (strstr(v->name, "mask")) m->role = ROLE_MASK;
        else if (strstr(v->name, "type") || strstr(v->name, "segment")) m->role = ROLE_TYPES;
        else if (strstr(v->name, "ids") || strstr(v->name, "input")) m->role = ROLE_IDS;
        else {
            st = df_error_set(err, DF_EUNSUPPORTED,
                              "%s: input '%s' is not token ids, an attention mask or token type ids", model, v->name);
            break;
        }
    }
    df_graph_free(g);
    return st;
}

typedef struct sentences {
    const char **text;
    size_t *len;
    size_t count, cap;
} sentences;

static df_status push(sentences *s, const char *t, size_t len, df_error *err) {
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const char **nt = realloc(s->text, cap * sizeof *nt);
        if (nt) s->text = nt;
        size_t *nl = realloc(s->len, cap * sizeof *nl);
        if (nl) s->len = nl;
        if (!nt || !nl) return df_error_set(err, DF_ENOMEM, "out of memory reading the corpus");
        s->cap = cap;
    }
    s->text[s->count] = t;
    s->len[s->count++] = len;
    return DF_OK;
}

/* Checks UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static bool utf8_ok(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) k = 3, cp = c & 0x07;
        else return false;
        if (i + k >= n) return false; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += k + 1;
    }
    return true;
}

static df_status split_lines(const char *path, char *buf, size_t size, sentences *s, df_error *err) {
    size_t line = 0;
    char *p = buf, *end = buf + size;
    if (size >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        size_t len = (size_t)(e - p);
        if (len && p[len - 1] == '\r') len--;
        if (!utf8_ok((const unsigned char *)p, len))
            return df_error_set(err, DF_EINVAL, "%s:%zu: not valid UTF-8", path, line);
        bool blank = true;
        for (size_t i = 0; i < len; i++)
            if (p[i] != ' ' && p[i] != '\t') blank = false;
        if (!blank) {
            if (memchr(p, '\0', len)) return df_error_set(err, DF_EINVAL, "%s:%zu: holds a NUL byte", path, line);
            df_status st = push(s, p, len, err);
            if (st) return st;
        }
        p = nl ? nl + 1 : end;
    }
    return DF_OK;
}

static df_status encode_set(const df_tokenizer *tok, const sentences *s, const size_t *pick, size_t n,
                            const model_input *in, int n_in, int64_t seq, const char *out_npz, df_error *err) {
    df_tensor_list list = {0};
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)seq * n), *mask = malloc(sizeof(int64_t) * (size_t)seq * n),
            *types = malloc(sizeof(int64_t) * (size_t)seq * n);
    df_status st = DF_OK;
    if (!ids || !mask || !types) {
        st = df_error_set(err, DF_ENOMEM, "out of memory tokenizing");
        goto done;
    }
    for (size_t r = 0; r < n; r++) {
        size_t n_real;
        size_t i = pick[r];
        if ((st = df_tokenizer_encode(tok, s->text[i], s->len[i], (size_t)seq, ids + r * (size_t)seq,
                                      mask + r * (size_t)seq, types + r * (size_t)seq, &n_real, err))) {
            df_error_prefix(err, "sentence %zu: ", i + 1);
            goto done;
        }
    }
    for (int k = 0; k < n_in; k++) {
        const int64_t *src = in[k].role == ROLE_IDS ? ids : in[k].role == ROLE_MASK ? mask : types;
        df_tensor t;
        df_shape sh = {.rank = 2, .dims = {(int64_t)n, seq}};
        if ((st = df_tensor_alloc(&t, in[k].dtype, &sh, err))) goto done;
        for (size_t e = 0; e < n * (size_t)seq; e++) {
            if (in[k].dtype == DF_I32) ((int32_t *)t.data)[e] = (int32_t)src[e];
            else ((int64_t *)t.data)[e] = src[e];
        }
        st = df_tensor_list_add(&list, in[k].name, &t, err);
        df_tensor_free(&t);
        if (st) goto done;
    }
    st = df_npz_write(out_npz, &list, err);
done:
    free(ids);
    free(mask);
    free(types);
    df_tensor_list_free(&list);
    return st;
}

df_status df_calib_build_split(const char *corpus_path, int samples, const char *tokenizer_path, int64_t seq,
                               const char *model_onnx, const char *out_npz, const char *heldout_npz,
                               int heldout_every, df_error *err) {
    if (seq < 2 || seq > 1 << 16) return df_error_set(err, DF_EINVAL, "seq %lld is not in [2, 65536]", (long long)seq);
    if (!tokenizer_path || !model_onnx || !out_npz)
        return df_error_set(err, DF_EINVAL, "calibrate needs a tokenizer, a model and an output path");
    sentences s = {0};
    char *buf = NULL;
    size_t size = 0, *pick_c = NULL, *pick_h = NULL;
    df_tokenizer *tok = NULL;
    model_input in[8];
    int n_in = 0;
    df_status st;
    if (corpus_path) {
        if ((st = df_file_read_all(corpus_path, (void **)&buf, &size, 0, err))) return st;
        if ((st = split_lines(corpus_path, buf, size, &s, err))) goto done;
        if (s.count == 0) {
            st = df_error_set(err, DF_EINVAL, "%s: the corpus is empty (no non-blank lines)", corpus_path);
            goto done;
        }
    } else {
        size_t n;
        const char *const *b = df_calib_builtin(&n);
        for (size_t i = 0; i < n; i++)
            if ((st = push(&s, b[i], strlen(b[i]), err))) goto done;
    }
    if ((st = read_model_inputs(model_onnx, in, &n_in, err))) goto done;
    if (n_in == 0) {
        st = df_error_set(err, DF_EINVAL, "%s: the model has no inputs", model_onnx);
        goto done;
    }
    if ((st = df_tokenizer_load(tokenizer_path, NULL, &tok, err))) goto done;
    pick_c = malloc(sizeof(size_t) * s.count);
    pick_h = malloc(sizeof(size_t) * s.count);
    if (!pick_c || !pick_h) {
        st = df_error_set(err, DF_ENOMEM, "out of memory");
        goto done;
    }
    bool split = heldout_npz && heldout_every >= 2;
    size_t nc = 0, nh = 0;
    for (size_t i = 0; i < s.count; i++) {
        if (split && (i + 1) % (size_t)heldout_every == 0) pick_h[nh++] = i;
        else if (samples <= 0 || nc < (size_t)samples) pick_c[nc++] = i;
    }
    if (nc == 0) {
        st = df_error_set(err, DF_EINVAL, "%s: no sentences left for calibration after the held-out split",
                          corpus_path ? corpus_path : "built-in corpus");
        goto done;
    }
    if ((st = encode_set(tok, &s, pick_c, nc, in, n_in, seq, out_npz, err))) {
        df_error_prefix(err, "%s: ", corpus_path ? corpus_path : "built-in corpus");
        goto done;
    }
    if (split && nh > 0 && (st = encode_set(tok, &s, pick_h, nh, in, n_in, seq, heldout_npz, err)))
        df_error_prefix(err, "%s: ", corpus_path ? corpus_path : "built-in corpus");
done:
    df_tokenizer_free(tok);
    free(pick_c);
    free(pick_h);
    free(s.text);
    free(s.len);
    free(buf);
    return st;
}

df_status df_calib_build(const char *corpus_path, int samples, const char *tokenizer_path, int64_t seq,
                         const char *model_onnx, const char *out_npz, df_error *err) {
    return df_calib_build_split(corpus_path, samples, tokenizer_path, seq, model_onnx, out_npz, NULL, 0, err);
}
