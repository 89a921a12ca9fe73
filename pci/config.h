/* PCI configuration space: 4 KiB (PCIe) of bytes plus, for every byte, a mask
 * of the bits the guest may write and a mask of the bits a guest write of 1
 * clears (status registers). Guest writes go through the masks; the device
 * model sets up registers with the raw setters, which ignore them.
 *
 * Capabilities are appended to the legacy list (0x40-0xff) and linked from
 * the capabilities pointer at 0x34; STATUS.CAP_LIST is set with the first.
 *
 * Not thread-safe: the owner (PciDevice) serializes access. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_CONFIG_SIZE 4096u        /* PCIe extended configuration space */
#define PCI_CONFIG_LEGACY_SIZE 256u  /* conventional PCI: header + capability list */

/* Type 0 header registers (PCI Local Bus 3.0, section 6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09 /* class code: prog-if 0x09, subclass 0x0a, base class 0x0b */
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BIST 0x0f
#define PCI_BAR0 0x10 /* six dwords up to 0x27 */
#define PCI_CARDBUS_CIS 0x28
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_MIN_GNT 0x3e
#define PCI_MAX_LAT 0x3f
#define PCI_CAP_START 0x40 /* first byte after the type 0 header */

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR 0x0100
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_STATUS_MASTER_PARITY 0x0100
#define PCI_STATUS_SIG_TARGET_ABORT 0x0800
#define PCI_STATUS_REC_TARGET_ABORT 0x1000
#define PCI_STATUS_REC_MASTER_ABORT 0x2000
#define PCI_STATUS_SIG_SYSTEM_ERROR 0x4000
#define PCI_STATUS_DETECTED_PARITY 0x8000
/* The error bits software clears by writing 1. */
#define PCI_STATUS_W1C                                                                        \
    (PCI_STATUS_MASTER_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT | \
     PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY)

#define PCI_HEADER_TYPE_MULTI_FUNCTION 0x80

/* Capability ids (PCI Local Bus 3.0 appendix H). */
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VENDOR 0x09
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_ID_MSIX 0x11

typedef struct PciConfig {
    uint8_t data[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];   /* 1: the guest may write this bit */
    uint8_t w1cmask[PCI_CONFIG_SIZE]; /* 1: a guest write of 1 clears this bit */
    uint8_t cap_next;                 /* where the next capability goes */
    uint8_t cap_last;                 /* offset of the last capability, 0 if none */
} PciConfig;

/* An empty type 0 header: all zero, COMMAND's decode/master/parity/SERR/
 * INTX_DISABLE bits, cache line size, latency timer and interrupt line
 * writable, STATUS error bits write-1-to-clear. */
void pci_config_init(PciConfig *c);

/* A guest access of size 1, 2 or 4 at any offset (the caller checks
 * alignment if it wants to). Out-of-range bytes read as 0xff and are not
 * written. Returns/takes the little-endian value. */
uint32_t pci_config_read(const PciConfig *c, uint32_t offset, unsigned size);
void pci_config_write(PciConfig *c, uint32_t offset, uint32_t value, unsigned size);

/* Raw little-endian accessors for the device model (no masks, g_assert on
 * out-of-range offsets: those are programming errors). */
uint8_t pci_config_get8(const PciConfig *c, uint32_t offset);
uint16_t pci_config_get16(const PciConfig *c, uint32_t offset);
uint32_t pci_config_get32(const PciConfig *c, uint32_t offset);
void pci_config_set8(PciConfig *c, uint32_t offset, uint8_t value);
void pci_config_set16(PciConfig *c, uint32_t offset, uint16_t value);
void pci_config_set32(PciConfig *c, uint32_t offset, uint32_t value);
void pci_config_set_wmask(PciConfig *c, uint32_t offset, uint32_t mask, unsigned size);
void pci_config_set_w1cmask(PciConfig *c, uint32_t offset, uint32_t mask, unsigned size);

/* Append a capability of `size` bytes (>= 2: id and next pointer) with the
 * given id to the list. Returns its offset; the body is zero and read-only
 * until the caller sets masks. Fails when the 256-byte space is full. */
uint8_t pci_config_add_capability(PciConfig *c, uint8_t id, unsigned size, GError **errp);
/* Offset of the first capability with `id` after `after` (0: from the
 * start), or 0. Tolerates malformed (looping, out-of-range) lists. */
uint8_t pci_config_find_capability(const PciConfig *c, uint8_t id, uint8_t after);

/* True if [offset, offset+size) overlaps [start, start+len). */
static inline bool pci_config_overlaps(uint32_t offset, unsigned size, uint32_t start, uint32_t len)
{
    return offset < start + len && start < offset + size;
}
