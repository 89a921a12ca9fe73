#include "firmware/elf_loader.h"

#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define ELF_MAX_PHDRS 64
#define ELF_MAX_NOTES_SIZE (1u << 20)
#define XEN_ELFNOTE_PHYS32_ENTRY 18

bool elf_has_magic(const void *head, size_t len)
{
    return len >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0;
}

static bool read_exact(int fd, const char *name, void *buf, size_t len, uint64_t off,
                       uint64_t file_size, GError **errp)
{
    if (off > file_size || len > file_size - off) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s: truncated ELF image (needs bytes %#" G_GINT64_MODIFIER "x..%#"
                    G_GINT64_MODIFIER "x, file has %" G_GUINT64_FORMAT ")",
                    name, off, off + len, file_size);
        return false;
    }
    ssize_t n = pread(fd, buf, len, (off_t)off);
    if (n < 0) {
        error_set_errno(errp, -errno, "%s: read failed", name);
        return false;
    }
    if ((size_t)n != len) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO, "%s: short read", name);
        return false;
    }
    return true;
}

/* Walk one PT_NOTE segment looking for the PVH entry note. */
static bool scan_notes(const uint8_t *buf, size_t len, const char *name, ElfInfo *out,
                       GError **errp)
{
    size_t pos = 0;
    while (len - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, buf + pos, sizeof nh);
        pos += sizeof nh;
        size_t namesz = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
        size_t descsz = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
        if (namesz > len - pos || descsz > len - pos - namesz) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s: malformed ELF note",
                        name);
            return false;
        }
        const uint8_t *nm = buf + pos;
        const uint8_t *desc = buf + pos + namesz;
        if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
            memcmp(nm, "Xen", 4) == 0) {
            /* The note holds the entry as a 32- or 64-bit little-endian value. */
            if (nh.n_descsz == 4) {
                uint32_t e;
                memcpy(&e, desc, 4);
                out->pvh_entry = e;
            } else if (nh.n_descsz == 8) {
                uint64_t e;
                memcpy(&e, desc, 8);
                if (e > UINT32_MAX) {
                    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                                "%s: PVH entry %#" G_GINT64_MODIFIER "x is above 4 GiB", name, e);
                    return false;
                }
                out->pvh_entry = (uint32_t)e;
            } else {
                g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                            "%s: PVH entry note has size %u", name, nh.n_descsz);
                return false;
            }
            out->has_pvh_entry = true;
        }
        pos += namesz + descsz;
    }
    return true;
}

static bool inspect(int fd, const char *name, uint16_t machine, ElfInfo *out, Elf64_Phdr *phdrs,
                    unsigned *n_phdrs, uint64_t *file_size, GError **errp)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        error_set_errno(errp, -errno, "%s: stat failed", name);
        return false;
    }
    *file_size = (uint64_t)st.st_size;
    memset(out, 0, sizeof *out);

    Elf64_Ehdr eh;
    if (!read_exact(fd, name, &eh, sizeof eh, 0, *file_size, errp))
        return false;
    if (!elf_has_magic(eh.e_ident, sizeof eh.e_ident) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s: not a little-endian 64-bit ELF image", name);
        return false;
    }
    if (eh.e_type != ET_EXEC || eh.e_machine != machine) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s: ELF type %u machine %u is not an executable for machine %u", name,
                    eh.e_type, eh.e_machine, machine);
        return false;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > ELF_MAX_PHDRS) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "%s: unsupported program header table (%u entries of %u bytes)", name,
                    eh.e_phnum, eh.e_phentsize);
        return false;
    }
    if (!read_exact(fd, name, phdrs, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff, *file_size,
                    errp))
        return false;
    *n_phdrs = eh.e_phnum;
    out->entry = eh.e_entry;
    out->load_low = UINT64_MAX;

    unsigned loads = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *ph = &phdrs[i];
        if (ph->p_type == PT_LOAD) {
            if (ph->p_filesz > ph->p_memsz || ph->p_paddr + ph->p_memsz < ph->p_paddr ||
                ph->p_offset + ph->p_filesz < ph->p_offset ||
                ph->p_offset + ph->p_filesz > *file_size) {
                g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                            "%s: segment %u has inconsistent sizes or lies outside the file",
                            name, i);
                return false;
            }
            out->load_low = MIN(out->load_low, ph->p_paddr);
            out->load_high = MAX(out->load_high, ph->p_paddr + ph->p_memsz);
            loads++;
        } else if (ph->p_type == PT_NOTE) {
            if (ph->p_filesz > ELF_MAX_NOTES_SIZE) {
                g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                            "%s: note segment of %" G_GUINT64_FORMAT " bytes is too large", name,
                            (guint64)ph->p_filesz);
                return false;
            }
            g_autofree uint8_t *notes = g_malloc(ph->p_filesz ? ph->p_filesz : 1);
            if (!read_exact(fd, name, notes, ph->p_filesz, ph->p_offset, *file_size, errp) ||
                !scan_notes(notes, ph->p_filesz, name, out, errp))
                return false;
        }
    }
    if (!loads) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s: ELF image has no loadable segment",
                    name);
        return false;
    }
    return true;
}

bool elf_inspect(int fd, const char *name, uint16_t machine, ElfInfo *out, GError **errp)
{
    Elf64_Phdr phdrs[ELF_MAX_PHDRS];
    unsigned n;
    uint64_t size;
    return inspect(fd, name, machine, out, phdrs, &n, &size, errp);
}

bool elf_load(int fd, const char *name, uint16_t machine, GuestMemory *mem, ElfInfo *out,
              GError **errp)
{
    Elf64_Phdr phdrs[ELF_MAX_PHDRS];
    unsigned n;
    uint64_t size;
    if (!inspect(fd, name, machine, out, phdrs, &n, &size, errp))
        return false;
    for (unsigned i = 0; i < n; i++) {
        const Elf64_Phdr *ph = &phdrs[i];
        if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
            continue;
        uint8_t *hva = memory_hva(mem, ph->p_paddr, ph->p_memsz);
        if (!hva) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "%s: segment %u at %#" G_GINT64_MODIFIER "x..%#" G_GINT64_MODIFIER
                        "x does not fit in guest RAM",
                        name, i, (guint64)ph->p_paddr, (guint64)(ph->p_paddr + ph->p_memsz));
            return false;
        }
        if (!read_exact(fd, name, hva, ph->p_filesz, ph->p_offset, size, errp))
            return false;
        memset(hva + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
    }
    return true;
}
