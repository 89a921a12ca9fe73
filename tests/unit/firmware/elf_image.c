#include "unit/firmware/elf_image.h"

#include <check.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

GByteArray *elf_image_build(uint16_t machine, uint64_t entry, const ElfImageSeg *segs,
                            size_t n)
{
    GByteArray *img = g_byte_array_new();
    size_t data_off = sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr);
    g_byte_array_set_size(img, (guint)data_off);
    memset(img->data, 0, data_off);

    Elf64_Ehdr eh = { 0 };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = (uint16_t)n;
    elf_image_set_ehdr(img, &eh);

    for (size_t i = 0; i < n; i++) {
        /* Keep every segment 16-byte aligned in the file. */
        static const uint8_t zeros[16];
        g_byte_array_append(img, zeros, (guint)((16 - img->len % 16) % 16));
        Elf64_Phdr ph = {
            .p_type = segs[i].type,
            .p_flags = PF_R | PF_X,
            .p_offset = img->len,
            .p_vaddr = segs[i].paddr | 0xffffffff80000000ull,
            .p_paddr = segs[i].paddr,
            .p_filesz = segs[i].filesz,
            .p_memsz = segs[i].memsz,
            .p_align = 16,
        };
        if (segs[i].filesz)
            g_byte_array_append(img, segs[i].data, (guint)segs[i].filesz);
        elf_image_set_phdr(img, (unsigned)i, &ph);
    }
    return img;
}

Elf64_Ehdr elf_image_ehdr(const GByteArray *img)
{
    Elf64_Ehdr eh;
    memcpy(&eh, img->data, sizeof eh);
    return eh;
}

void elf_image_set_ehdr(GByteArray *img, const Elf64_Ehdr *eh)
{
    memcpy(img->data, eh, sizeof *eh);
}

Elf64_Phdr elf_image_phdr(const GByteArray *img, unsigned i)
{
    Elf64_Phdr ph;
    memcpy(&ph, img->data + sizeof(Elf64_Ehdr) + i * sizeof ph, sizeof ph);
    return ph;
}

void elf_image_set_phdr(GByteArray *img, unsigned i, const Elf64_Phdr *ph)
{
    memcpy(img->data + sizeof(Elf64_Ehdr) + i * sizeof *ph, ph, sizeof *ph);
}

static void append_padded(GByteArray *b, const void *p, size_t len)
{
    static const uint8_t zeros[4];
    if (len)
        g_byte_array_append(b, p, (guint)len);
    g_byte_array_append(b, zeros, (guint)((4 - len % 4) % 4));
}

GByteArray *elf_image_note(const char *name, uint32_t namesz, uint32_t type, const void *desc,
                           uint32_t descsz)
{
    GByteArray *b = g_byte_array_new();
    Elf64_Nhdr nh = { .n_namesz = namesz, .n_descsz = descsz, .n_type = type };
    g_byte_array_append(b, (const guint8 *)&nh, sizeof nh);
    append_padded(b, name, name ? strlen(name) + 1 : 0);
    append_padded(b, desc, desc ? descsz : 0);
    return b;
}

GByteArray *elf_image_pvh_note(uint64_t entry, uint32_t descsz)
{
    uint8_t desc[8];
    for (int i = 0; i < 8; i++)
        desc[i] = (uint8_t)(entry >> (8 * i));
    return elf_image_note("Xen", 4, 18, desc, descsz);
}

int elf_image_memfd(const void *data, size_t len)
{
    int fd = memfd_create("elf-image", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    return fd;
}
