"""Bit intrinsics (popcount, lowest set bit, half to float) and the Hamming distance of a
query to a run of database columns."""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload


@intrinsic
def popcount(typingctx, word):
    """The hardware population count of a uint64 (llvm.ctpop)."""
    if word != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def lowest_bit(typingctx, word):
    """The index of the lowest set bit of a nonzero uint64 (llvm.cttz), as an int64."""
    if word != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.int64(types.uint64), codegen


@intrinsic
def half_to_float(typingctx, bits):
    """A float16 (given by its bits, as numba has no float16 type) widened to float32."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


def as_float32(value):
    """float32 of a feature value: float16 arrays reach the kernels viewed as uint16."""


@overload(as_float32, inline="always")
def _float32_overload(value):
    if value == types.uint16:
        return lambda value: half_to_float(value)
    if isinstance(value, types.Float):
        return lambda value: np.float32(value)
    return None


@nb.njit(inline="always")
def distances_into(query_words, a, database_columns, first, out):
    """out[i] = Hamming distance of query a to database item first + i.

    One pass per word over contiguous slices, so that LLVM vectorises each (a 2-D slice or a
    running sum of words per item would not be).
    """
    for w in range(database_columns.shape[0]):
        word = query_words[a, w]
        column = database_columns[w, first : first + out.size]
        if w == 0:
            for i in range(out.size):
                out[i] = np.uint16(popcount(word ^ column[i]))
        else:
            for i in range(out.size):
                out[i] += np.uint16(popcount(word ^ column[i]))


@nb.njit(inline="always")
def nearest_in_span(query_words, a, database_columns, first, row):
    """The smallest Hamming distance of query a to database items first .. first + row.size - 1.

    Codes of one or two words (up to 128 bits) take one fused pass that stores nothing, so a
    scan that skips most spans runs at the speed of reading them; longer codes fill ``row``
    (scratch) by ``distances_into``.
    """
    n_words = database_columns.shape[0]
    nearest = np.uint64(n_words * 64 + 1)
    if n_words == 1:
        word = query_words[a, 0]
        column = database_columns[0, first : first + row.size]
        for i in range(row.size):
            nearest = min(nearest, popcount(word ^ column[i]))
    elif n_words == 2:
        word_0, word_1 = query_words[a, 0], query_words[a, 1]
        column_0 = database_columns[0, first : first + row.size]
        column_1 = database_columns[1, first : first + row.size]
        for i in range(row.size):
            nearest = min(nearest, popcount(word_0 ^ column_0[i]) + popcount(word_1 ^ column_1[i]))
    else:
        distances_into(query_words, a, database_columns, first, row)
        for i in range(row.size):
            nearest = min(nearest, np.uint64(row[i]))
    return np.int64(nearest)
