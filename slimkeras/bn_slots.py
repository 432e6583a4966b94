"""The BN slot table: which width configuration each row of BN statistics holds."""

import numpy as np
import tensorflow as tf

from slimkeras.width import WidthConfig
from slimkeras.width_state import quantize_tensor


class BNSlotTable:
    """Which width configuration each slot (row of every BN layer's statistics) holds.

    Wraps two float64 variables the model owns (and `.keras` files keep):
    `keys` [num_slots, 1 + num_stages], a configuration's `slot_row` per slot,
    and `valid` [num_slots], 1 where the slot holds statistics. A table is
    `fixed` for switchable BN: slot i always holds switch i.

    Args:
        keys, valid: the variables.
        num_stages: the model's number of stages.
        fixed: True when the slots are the switches (switchable BN).
    """

    def __init__(self, keys, valid, num_stages, fixed=False):
        self.keys = keys
        self.valid = valid
        self.num_stages = num_stages
        self.fixed = fixed

    @property
    def num_slots(self):
        return int(self.keys.shape[0])

    @staticmethod
    def initial_values(num_slots, num_stages, switches=None):
        """(keys, valid) arrays of a new table: empty, or holding `switches` (fixed)."""
        keys = np.full((num_slots, 1 + num_stages), -1.0)
        valid = np.zeros((num_slots,))
        if switches:
            keys[:] = [WidthConfig(w).slot_row(num_stages) for w in switches]
            valid[:] = 1.0
        return keys, valid

    # -- host side ---------------------------------------------------------------
    def find(self, config):
        """Index of the slot holding statistics for `config` (a WidthConfig), or None."""
        for slot, held in self._held():
            if held == config:
                return slot
        return None

    def calibrated(self):
        """The WidthConfigs that have statistics, in slot order."""
        return [held for _, held in self._held()]

    def _held(self):
        keys, valid = self.keys.numpy(), self.valid.numpy()
        return [(slot, WidthConfig.from_slot_row(keys[slot])) for slot in range(self.num_slots)
                if valid[slot] > 0.5]

    def allocate(self, configs, clear=False):
        """A slot for each of `configs` (distinct WidthConfigs): the slot already holding
        it, else a free one. `clear` first frees every slot (not for a fixed table).

        Raises:
            ValueError: when there are not enough free slots.
        """
        if self.fixed:
            return [self.find(config) for config in configs]
        if clear:
            self.clear()
        valid = self.valid.numpy()
        free = [slot for slot in range(self.num_slots) if valid[slot] <= 0.5]
        slots = []
        for config in configs:
            slot = self.find(config)
            if slot is None:
                if not free:
                    have = ", ".join(c.describe() for c in self.calibrated())
                    raise ValueError(
                        f"No free BN slot for width {config.describe()}: the model holds "
                        f"statistics for at most {self.num_slots} widths (now: {have}). Pass "
                        "clear=True to drop them, or build the model with a larger num_bn_slots."
                    )
                slot = free.pop(0)
            slots.append(slot)
        return slots

    def record(self, slots, configs):
        """Marks each of `slots` as holding the statistics of the matching config."""
        keys, valid = self.keys.numpy(), self.valid.numpy()
        for slot, config in zip(slots, configs):
            keys[slot] = config.slot_row(self.num_stages)
            valid[slot] = 1.0
        self.keys.assign(keys)
        self.valid.assign(valid)

    def clear(self):
        """Frees every slot (their statistics are no longer used)."""
        if self.fixed:
            raise ValueError(
                "Switchable BN keeps one slot per switch: its statistics cannot be cleared "
                "(recalibrate them with slimkeras.calibrate_bn instead)."
            )
        self.valid.assign(np.zeros(self.num_slots))

    # -- in the graph ------------------------------------------------------------
    def lookup(self, row):
        """(slot index int32, found bool) tensors of the slot holding `row` (float64
        [1 + num_stages]), compared as WidthConfigs are (DECIMALS places)."""
        keys = quantize_tensor(tf.convert_to_tensor(self.keys))
        match = tf.logical_and(
            tf.reduce_all(tf.equal(keys, quantize_tensor(row)[tf.newaxis, :]), axis=1),
            tf.convert_to_tensor(self.valid) > 0.5,
        )
        index = tf.cast(tf.argmax(tf.cast(match, tf.int32)), tf.int32)
        return index, tf.reduce_any(match)
