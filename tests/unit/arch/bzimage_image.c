#include "unit/arch/bzimage_image.h"

#include <string.h>

uint16_t test_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t test_rd32(const uint8_t *p)
{
    return (uint32_t)test_rd16(p) | (uint32_t)test_rd16(p + 2) << 16;
}

uint64_t test_rd64(const uint8_t *p)
{
    return (uint64_t)test_rd32(p) | (uint64_t)test_rd32(p + 4) << 32;
}

void test_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void test_wr32(uint8_t *p, uint32_t v)
{
    test_wr16(p, (uint16_t)v);
    test_wr16(p + 2, (uint16_t)(v >> 16));
}

void test_wr64(uint8_t *p, uint64_t v)
{
    test_wr32(p, (uint32_t)v);
    test_wr32(p + 4, (uint32_t)(v >> 32));
}

TestBzParams test_bz_defaults(void)
{
    return (TestBzParams){
        .setup_sects = 4,
        .version = 0x020f,
        .loadflags = 0x01,          /* LOADED_HIGH */
        .xloadflags = 0x0003,       /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
        .cmdline_size = 2047,
        .initrd_addr_max = 0x7fffffff,
        .pref_address = 0x1000000,
        .init_size = 0x200000,
        .kernel_bytes = 0x10000,
    };
}

uint8_t test_bz_kernel_byte(size_t i)
{
    return (uint8_t)(i * 7 + (i >> 8) + 1);
}

GByteArray *test_bz_build(const TestBzParams *p)
{
    size_t setup = ((size_t)(p->setup_sects ? p->setup_sects : 4) + 1) * 512;
    GByteArray *img = g_byte_array_sized_new((guint)(setup + p->kernel_bytes));
    g_byte_array_set_size(img, (guint)(setup + p->kernel_bytes));
    uint8_t *b = img->data;
    /* Real-mode code and the rest of the setup: junk that must not matter. */
    for (size_t i = 0; i < setup; i++)
        b[i] = (uint8_t)(0xa5 ^ i);
    memset(b + TBZ_SETUP_SECTS, 0, 0x280 - TBZ_SETUP_SECTS);

    b[TBZ_SETUP_SECTS] = p->setup_sects;
    test_wr32(b + TBZ_SYSSIZE, (uint32_t)((p->kernel_bytes + 15) / 16 + p->syssize_delta));
    test_wr16(b + TBZ_VID_MODE, 0xfffd); /* "ask": the loader must overwrite */
    test_wr16(b + TBZ_BOOT_FLAG, 0xaa55);
    b[TBZ_JUMP] = 0xeb;
    b[TBZ_JUMP + 1] = 0x6a; /* header ends at 0x26c (protocol 2.15) */
    memcpy(b + TBZ_HEADER, "HdrS", 4);
    test_wr16(b + TBZ_VERSION, p->version);
    b[TBZ_TYPE_OF_LOADER] = 0x00;
    b[TBZ_LOADFLAGS] = p->loadflags;
    test_wr32(b + TBZ_CODE32_START, 0x100000);
    test_wr32(b + TBZ_INITRD_ADDR_MAX, p->initrd_addr_max);
    test_wr32(b + TBZ_KERNEL_ALIGNMENT, 0x200000);
    b[TBZ_RELOCATABLE] = 1;
    test_wr16(b + TBZ_XLOADFLAGS, p->xloadflags);
    test_wr32(b + TBZ_CMDLINE_SIZE, p->cmdline_size);
    test_wr64(b + TBZ_PREF_ADDRESS, p->pref_address);
    test_wr32(b + TBZ_INIT_SIZE, p->init_size);
    /* Bytes after the header's end: must not be copied into the zero page. */
    memset(b + 0x26c, 0xcc, 0x280 - 0x26c);

    for (size_t i = 0; i < p->kernel_bytes; i++)
        b[setup + i] = test_bz_kernel_byte(i);
    return img;
}
