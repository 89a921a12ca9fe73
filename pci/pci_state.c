/* A PCI function's state description and its load/save helpers (see
 * pci/device.h "state"). */
#include "migration/state.h"
#include "pci/internal.h"

#include <string.h>

static const StateField pci_msix_vector_fields[] = {
    STATE_U32(PciMsixVectorState, addr_lo, 1),
    STATE_U32(PciMsixVectorState, addr_hi, 2),
    STATE_U32(PciMsixVectorState, data, 3),
    STATE_U32(PciMsixVectorState, ctrl, 4),
    STATE_BOOL(PciMsixVectorState, pending, 5),
    STATE_END
};

static const StateDesc pci_msix_vector_state = {
    .name = "pci-msix-vector", .version = 1, .min_version = 1, .size = sizeof(PciMsixVectorState),
    .fields = pci_msix_vector_fields,
};

static const StateField pci_device_fields[] = {
    STATE_BYTES(PciDeviceState, config, 1),
    STATE_BOOL(PciDeviceState, intx_level, 2),
    STATE_STRUCT_ARRAY(PciDeviceState, msix, msix_count, 3, &pci_msix_vector_state),
    STATE_END
};

const StateDesc pci_device_state = {
    .name = "pci-device", .version = 1, .min_version = 1, .size = sizeof(PciDeviceState),
    .fields = pci_device_fields,
};

/* Called with pd->lock held: bring the BAR mappings in line with the loaded
 * config space (device.c's bars_update, reached through a config write of
 * COMMAND that changes nothing). */
bool pci_device_state_sync(PciDevice *pd, PciDeviceState *st, DeviceStateDir dir, GError **errp)
{
    g_assert(pd->initialized);
    if (dir == DEVICE_STATE_SAVE) {
        g_mutex_lock(&pd->lock);
        memcpy(st->config, pd->config.data, sizeof st->config);
        g_mutex_unlock(&pd->lock);
        g_mutex_lock(&pd->intx_lock);
        st->intx_level = pd->intx_level;
        g_mutex_unlock(&pd->intx_lock);
        st->msix_count = 0;
        return !pd->msix || pci_msix_state_sync(pd->msix, st, dir, errp);
    }
    if (!pd->msix && st->msix_count) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "MSI-X state for a function without MSI-X");
        return false;
    }
    g_mutex_lock(&pd->lock);
    PciConfig *c = &pd->config;
    uint16_t command = 0;
    for (unsigned i = 0; i < PCI_CONFIG_SIZE; i++) {
        uint8_t mask = c->wmask[i] | c->w1cmask[i];
        uint8_t v = (uint8_t)((c->data[i] & ~mask) | (st->config[i] & mask));
        if (i == PCI_COMMAND || i == PCI_COMMAND + 1) {
            command |= (uint16_t)(v << (8 * (i - PCI_COMMAND)));
            continue; /* written below, through the guest path */
        }
        c->data[i] = v;
    }
    g_mutex_unlock(&pd->lock);
    /* COMMAND through the normal write path: BARs mapped per decode and
     * their (loaded) addresses, INTx disable picked up. */
    pci_device_config_write(pd, PCI_COMMAND, command, 2);
    if (pd->msi) {
        /* Refresh MSI's cached address/data/mask from the loaded bytes. */
        g_mutex_lock(&pd->lock);
        pci_msi_config_written(pd->msi, 0, PCI_CONFIG_SIZE);
        g_mutex_unlock(&pd->lock);
    }
    g_mutex_lock(&pd->intx_lock);
    pd->intx_level = st->intx_level;
    g_mutex_unlock(&pd->intx_lock);
    return !pd->msix || pci_msix_state_sync(pd->msix, st, dir, errp);
}

void pci_device_post_load(PciDevice *pd)
{
    g_mutex_lock(&pd->intx_lock);
    bool level = pd->intx_level;
    g_mutex_unlock(&pd->intx_lock);
    pci_device_set_intx(pd, level);
    if (pd->msix)
        pci_msix_post_load(pd->msix);
}
