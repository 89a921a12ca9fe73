#include "firmware/acpi/aml.h"

#include <string.h>

/* Opcodes (ACPI 6.x, chapter 20). */
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME 0x08
#define AML_BYTE 0x0a
#define AML_WORD 0x0b
#define AML_DWORD 0x0c
#define AML_STRING 0x0d
#define AML_QWORD 0x0e
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_METHOD 0x14
#define AML_ARG0 0x68
#define AML_NOTIFY 0x86
#define AML_LEQUAL 0x93
#define AML_IF 0xa0
#define AML_ONES 0xff
#define AML_EXT 0x5b
#define AML_DEVICE 0x82
#define AML_ROOT '\\'
#define AML_DUAL_NAME 0x2e
#define AML_MULTI_NAME 0x2f

/* Small resource descriptors. */
#define RES_IRQ_NOFLAGS 0x22
#define RES_IO 0x47
#define RES_END 0x79
#define RES_EXT_IRQ 0x89
#define RES_DWORD_ADDR 0x87
#define RES_WORD_ADDR 0x88
#define RES_QWORD_ADDR 0x8a
#define RES_ADDR_MEMORY 0
#define RES_ADDR_IO 1
#define RES_ADDR_BUS 2
#define RES_ADDR_PRODUCER_FIXED 0x0c /* producer, positive decode, min+max fixed */
#define RES_MEM_RW_NONCACHEABLE 0x01
#define RES_IO_ENTIRE_RANGE 0x03
#define RES_EXT_IRQ_CONSUMER 0x01
#define RES_EXT_IRQ_EDGE 0x02
#define RES_IO_DECODE16 0x01

static void put(GByteArray *out, const void *p, size_t n)
{
    g_byte_array_append(out, p, (guint)n);
}

static void put_u8(GByteArray *out, uint8_t v)
{
    put(out, &v, 1);
}

void aml_integer(GByteArray *out, uint64_t v)
{
    if (v == 0) {
        put_u8(out, AML_ZERO);
    } else if (v == 1) {
        put_u8(out, AML_ONE);
    } else if (v == UINT64_MAX) {
        put_u8(out, AML_ONES);
    } else {
        uint8_t op = v <= 0xff ? AML_BYTE : v <= 0xffff ? AML_WORD : v <= 0xffffffff ? AML_DWORD
                                                                                     : AML_QWORD;
        size_t n = op == AML_BYTE ? 1 : op == AML_WORD ? 2 : op == AML_DWORD ? 4 : 8;
        put_u8(out, op);
        for (size_t i = 0; i < n; i++)
            put_u8(out, (uint8_t)(v >> (8 * i)));
    }
}

void aml_string(GByteArray *out, const char *s)
{
    put_u8(out, AML_STRING);
    put(out, s, strlen(s) + 1);
}

void aml_eisaid(GByteArray *out, const char *id)
{
    g_assert(strlen(id) == 7);
    /* Three letters in 5 bits each, then four hex digits; stored big-endian. */
    uint32_t v = (uint32_t)((id[0] - 0x40) & 0x1f) << 26 | (uint32_t)((id[1] - 0x40) & 0x1f) << 21 |
                 (uint32_t)((id[2] - 0x40) & 0x1f) << 16 |
                 (uint32_t)g_ascii_strtoull(id + 3, NULL, 16);
    uint32_t swapped = GUINT32_SWAP_LE_BE(v);
    put_u8(out, AML_DWORD);
    for (int i = 0; i < 4; i++)
        put_u8(out, (uint8_t)(swapped >> (8 * i)));
}

static void name_seg(GByteArray *out, const char *seg, size_t len)
{
    char s[4] = { '_', '_', '_', '_' };
    g_assert(len >= 1 && len <= 4);
    memcpy(s, seg, len);
    put(out, s, 4);
}

void aml_name_string(GByteArray *out, const char *name)
{
    if (*name == AML_ROOT) {
        put_u8(out, AML_ROOT);
        name++;
    }
    g_auto(GStrv) segs = g_strsplit(name, ".", -1);
    guint n = g_strv_length(segs);
    if (n == 0) {
        put_u8(out, AML_ZERO); /* NullName: the root itself */
        return;
    }
    if (n == 2)
        put_u8(out, AML_DUAL_NAME);
    else if (n > 2) {
        put_u8(out, AML_MULTI_NAME);
        put_u8(out, (uint8_t)n);
    }
    for (guint i = 0; i < n; i++)
        name_seg(out, segs[i], strlen(segs[i]));
}

size_t aml_pkg_length(uint8_t buf[4], size_t len)
{
    /* One byte holds up to 63 (6 bits); with k extra bytes the first keeps
     * 4 bits and each extra byte 8 more. The length includes itself. */
    if (len + 1 < 0x40) {
        buf[0] = (uint8_t)(len + 1);
        return 1;
    }
    for (size_t k = 1; k <= 3; k++) {
        size_t total = len + 1 + k;
        if (total < (1u << (4 + 8 * k))) {
            buf[0] = (uint8_t)((k << 6) | (total & 0x0f));
            for (size_t i = 1; i <= k; i++)
                buf[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
            return k + 1;
        }
    }
    g_assert_not_reached();
}

static void pkg(GByteArray *out, const uint8_t *op, size_t op_len, const GByteArray *head,
                const GByteArray *body)
{
    uint8_t len[4];
    size_t content = (head ? head->len : 0) + (body ? body->len : 0);
    size_t n = aml_pkg_length(len, content);
    put(out, op, op_len);
    put(out, len, n);
    if (head)
        put(out, head->data, head->len);
    if (body)
        put(out, body->data, body->len);
}

void aml_name(GByteArray *out, const char *name, const GByteArray *value)
{
    put_u8(out, AML_NAME);
    aml_name_string(out, name);
    put(out, value->data, value->len);
}

void aml_name_integer(GByteArray *out, const char *name, uint64_t v)
{
    g_autoptr(GByteArray) val = g_byte_array_new();
    aml_integer(val, v);
    aml_name(out, name, val);
}

void aml_name_eisaid(GByteArray *out, const char *name, const char *id)
{
    g_autoptr(GByteArray) val = g_byte_array_new();
    aml_eisaid(val, id);
    aml_name(out, name, val);
}

void aml_name_string_value(GByteArray *out, const char *name, const char *s)
{
    g_autoptr(GByteArray) val = g_byte_array_new();
    aml_string(val, s);
    aml_name(out, name, val);
}

void aml_scope(GByteArray *out, const char *name, const GByteArray *body)
{
    static const uint8_t op[] = { AML_SCOPE };
    g_autoptr(GByteArray) head = g_byte_array_new();
    aml_name_string(head, name);
    pkg(out, op, sizeof op, head, body);
}

void aml_device(GByteArray *out, const char *name, const GByteArray *body)
{
    static const uint8_t op[] = { AML_EXT, AML_DEVICE };
    g_autoptr(GByteArray) head = g_byte_array_new();
    aml_name_string(head, name);
    pkg(out, op, sizeof op, head, body);
}

void aml_package(GByteArray *out, unsigned n_elements, const GByteArray *elements)
{
    static const uint8_t op[] = { AML_PACKAGE };
    g_assert(n_elements <= 0xff);
    g_autoptr(GByteArray) head = g_byte_array_new();
    put_u8(head, (uint8_t)n_elements);
    pkg(out, op, sizeof op, head, elements);
}

void aml_buffer(GByteArray *out, const uint8_t *bytes, size_t len)
{
    static const uint8_t op[] = { AML_BUFFER };
    g_autoptr(GByteArray) head = g_byte_array_new();
    g_autoptr(GByteArray) body = g_byte_array_new();
    aml_integer(head, len);
    put(body, bytes, len);
    pkg(out, op, sizeof op, head, body);
}

void aml_res_io(GByteArray *res, uint16_t base, uint8_t len)
{
    uint8_t d[8] = { RES_IO, RES_IO_DECODE16, (uint8_t)base, (uint8_t)(base >> 8),
                     (uint8_t)base, (uint8_t)(base >> 8), 1, len };
    put(res, d, sizeof d);
}

void aml_res_irq(GByteArray *res, uint8_t irq)
{
    g_assert(irq < 16);
    uint16_t mask = (uint16_t)(1u << irq);
    uint8_t d[3] = { RES_IRQ_NOFLAGS, (uint8_t)mask, (uint8_t)(mask >> 8) };
    put(res, d, sizeof d);
}

void aml_resource_template(GByteArray *out, const GByteArray *res)
{
    g_autoptr(GByteArray) all = g_byte_array_new();
    put(all, res->data, res->len);
    uint8_t end[2] = { RES_END, 0 }; /* checksum 0: "the sum is not checked" */
    put(all, end, sizeof end);
    aml_buffer(out, all->data, all->len);
}

void aml_method(GByteArray *out, const char *name, unsigned n_args, const GByteArray *body)
{
    static const uint8_t op[] = { AML_METHOD };
    g_assert(n_args <= 7);
    g_autoptr(GByteArray) head = g_byte_array_new();
    aml_name_string(head, name);
    put_u8(head, (uint8_t)n_args); /* flags: arg count, not serialized, sync level 0 */
    pkg(out, op, sizeof op, head, body);
}

void aml_if(GByteArray *out, const GByteArray *predicate, const GByteArray *body)
{
    static const uint8_t op[] = { AML_IF };
    pkg(out, op, sizeof op, predicate, body);
}

void aml_lequal(GByteArray *out, const GByteArray *a, const GByteArray *b)
{
    put_u8(out, AML_LEQUAL);
    put(out, a->data, a->len);
    put(out, b->data, b->len);
}

void aml_arg(GByteArray *out, unsigned n)
{
    g_assert(n <= 6);
    put_u8(out, (uint8_t)(AML_ARG0 + n));
}

void aml_notify(GByteArray *out, const char *object, uint64_t value)
{
    put_u8(out, AML_NOTIFY);
    aml_name_string(out, object);
    aml_integer(out, value);
}

void aml_res_ext_irq(GByteArray *res, uint32_t gsi, bool edge)
{
    /* Large descriptor: tag, 16-bit length, flags, table length, GSIs. */
    uint8_t d[9] = { RES_EXT_IRQ, 6, 0,
                     (uint8_t)(RES_EXT_IRQ_CONSUMER | (edge ? RES_EXT_IRQ_EDGE : 0)), 1,
                     (uint8_t)gsi, (uint8_t)(gsi >> 8), (uint8_t)(gsi >> 16),
                     (uint8_t)(gsi >> 24) };
    put(res, d, sizeof d);
}

/* An address space descriptor: tag, length, type, flags, then granularity,
 * min, max, translation offset and length, each `width` bytes. */
static void res_addr(GByteArray *res, uint8_t tag, unsigned width, uint8_t type,
                     uint8_t type_flags, uint64_t first, uint64_t last)
{
    uint16_t len = (uint16_t)(3 + 5 * width);
    uint8_t head[6] = { tag, (uint8_t)len, (uint8_t)(len >> 8), type, RES_ADDR_PRODUCER_FIXED,
                        type_flags };
    put(res, head, sizeof head);
    const uint64_t fields[5] = { 0, first, last, 0, last - first + 1 };
    for (unsigned f = 0; f < 5; f++)
        for (unsigned i = 0; i < width; i++)
            put_u8(res, (uint8_t)(fields[f] >> (8 * i)));
}

void aml_res_bus_range(GByteArray *res, uint16_t first, uint16_t last)
{
    res_addr(res, RES_WORD_ADDR, 2, RES_ADDR_BUS, 0, first, last);
}

void aml_res_word_io(GByteArray *res, uint16_t first, uint16_t last)
{
    res_addr(res, RES_WORD_ADDR, 2, RES_ADDR_IO, RES_IO_ENTIRE_RANGE, first, last);
}

void aml_res_dword_memory(GByteArray *res, uint32_t first, uint32_t last)
{
    res_addr(res, RES_DWORD_ADDR, 4, RES_ADDR_MEMORY, RES_MEM_RW_NONCACHEABLE, first, last);
}

void aml_res_qword_memory(GByteArray *res, uint64_t first, uint64_t last)
{
    res_addr(res, RES_QWORD_ADDR, 8, RES_ADDR_MEMORY, RES_MEM_RW_NONCACHEABLE, first, last);
}
