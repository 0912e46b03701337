"""Key/value caches for the transformers backend: a shared prefix read once, and the slots of a
continuous batch.

A continuous batch holds rows that started at different times, so its rows have different
lengths. `SlotCache` keeps row r's keys and values at columns [0, length_r) of one buffer per
layer and writes each step's new token at the row's own column; a 4-D mask then hides the
columns a row does not own. Rows join (their prompt's keys and values copied in after a prefill
forward) and leave (the last row moved into the freed slot, one row's copy) without touching the
others. The buffers' rows x columns stay within a token budget: they grow by GROW columns when a
row outgrows them, never to the longest row a request could reach.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

GROW = 128  # columns added when a row outgrows the buffers: one reallocation per GROW steps, not one per step


def repeat_cache(cache, rows: int):
    """A fresh cache whose `rows` rows all start from `cache`'s single row (a shared prefix): views, no
    copies; each layer's first update concatenates into new tensors, so `cache` itself stays as it was."""
    repeated = DynamicCache()
    layers = []
    for layer in cache.layers:
        copy = DynamicLayer()
        copy.dtype, copy.device, copy.is_initialized = layer.keys.dtype, layer.keys.device, True
        copy.keys, copy.values = layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1)
        layers.append(copy)
    repeated.layers = layers
    return repeated


def plain_dynamic(cache) -> bool:
    """Whether every layer is a plain DynamicLayer (not sliding-window, quantised or offloaded)."""
    return all(type(layer) is DynamicLayer for layer in cache.layers)


class SlotLayer(DynamicLayer):
    """One layer's share of a SlotCache: `update` writes one new token per live row at that row's
    length and returns the live rows up to the longest one."""

    def __init__(self, owner: SlotCache):
        super().__init__()
        self.owner, self.is_initialized = owner, True
        self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, key_states, value_states, *args, **kwargs):
        owner, (keys, values) = self.owner, self.buffers
        if key_states.shape[-2] != 1 or key_states.shape[0] != owner.rows:
            raise RuntimeError(f"a slot cache takes one token for each of its {owner.rows} rows, "
                               f"got {tuple(key_states.shape)}")
        rows, columns = torch.arange(owner.rows, device=keys.device), owner.lengths[: owner.rows]
        keys[rows, :, columns] = key_states[:, :, 0]
        values[rows, :, columns] = value_states[:, :, 0]
        width = owner.width_in_use()
        self.keys, self.values = keys[: owner.rows, :, :width], values[: owner.rows, :, :width]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.owner.width_in_use() - 1


class SlotCache(DynamicCache):
    """The live rows of a continuous batch, rows [0, rows) of preallocated buffers."""

    def __init__(self, n_layers: int, budget: int, max_rows: int):
        super().__init__()
        self.layers = [SlotLayer(self) for _ in range(n_layers)]
        self.budget, self.max_rows = budget, max_rows
        self.rows, self.shape = 0, (0, 0)  # live rows; allocated (rows, columns)
        self.lengths = torch.zeros(0, dtype=torch.long)

    def fits(self, rows: int, width: int) -> bool:
        """Whether `rows` rows of `width` columns stay within the row limit and the token budget (a single
        row always fits: a request the model can take is never refused for its length)."""
        return rows <= self.max_rows and (rows == 1 or rows * width <= self.budget)

    def width_in_use(self) -> int:
        return int(self.lengths[: self.rows].max()) + 1 if self.rows else 0

    def reserve(self, rows: int, width: int, like=None) -> None:
        """Room for `rows` rows of `width` columns; reallocates (copying the live rows) only when the
        buffers are too small, and then leaves GROW columns of headroom where the budget allows.
        `like` (a prefill's cache) gives the first buffers' shape, dtype and device."""
        if rows <= self.shape[0] and width <= self.shape[1]:
            return
        # `width` covers every live row, so the buffers may also narrow, or lose rows, to fit the budget.
        columns = max(width, min(width + GROW, self.budget // rows))
        allocated = min(self.max_rows, max(rows, self.budget // columns))
        used = self.width_in_use()
        for i, layer in enumerate(self.layers):
            templates = layer.buffers or (like.layers[i].keys, like.layers[i].values)
            fresh = tuple(t.new_zeros(allocated, t.shape[1], columns, t.shape[3]) for t in templates)
            if layer.buffers is not None and self.rows:
                for old, new in zip(layer.buffers, fresh):
                    new[: self.rows, :, :used] = old[: self.rows, :, :used]
            layer.buffers = fresh
        lengths = torch.zeros(allocated, dtype=torch.long, device=self.lengths.device)
        lengths[: self.rows] = self.lengths[: self.rows]
        self.lengths, self.shape = lengths.to(self.layers[0].buffers[0].device), (allocated, columns)

    def append(self, prefilled, lengths: list[int]) -> None:
        """Rows of a prefill forward's cache join at the end; row j's real tokens are its first lengths[j]."""
        for layer, source in zip(self.layers, prefilled.layers):
            for j, n in enumerate(lengths):
                layer.buffers[0][self.rows + j, :, :n] = source.keys[j, :, :n]
                layer.buffers[1][self.rows + j, :, :n] = source.values[j, :, :n]
        self.lengths[self.rows : self.rows + len(lengths)] = torch.tensor(lengths)
        self.rows += len(lengths)

    def remove(self, row: int) -> None:
        """Row `row` leaves; the last row takes its slot."""
        last = self.rows - 1
        if row != last:
            n = int(self.lengths[last])
            for layer in self.layers:
                for buffer in layer.buffers:
                    buffer[row, :, :n] = buffer[last, :, :n]
            self.lengths[row] = self.lengths[last]
        self.rows = last

    def step_inputs(self, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """The additive 4-D mask (row r sees its columns 0..length_r, the new token's included) and the
        position of each row's new token; a 4-D mask is taken as given by transformers' mask code."""
        lengths = self.lengths[: self.rows]
        columns = torch.arange(self.width_in_use(), device=lengths.device)
        hidden = columns[None, :] > lengths[:, None]
        mask = torch.zeros(hidden.shape, dtype=dtype, device=lengths.device)
        mask = mask.masked_fill(hidden, torch.finfo(dtype).min)
        return mask[:, None, None, :], lengths[:, None].clone()

    def advance(self) -> None:
        self.lengths[: self.rows] += 1
