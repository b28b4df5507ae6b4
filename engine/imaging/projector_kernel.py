"""Compiled gather kernel of the two-body Fourier-slice projector (numba, single-threaded).

The padded 3D half-transforms are stored in 2 x 2 x 2 bricks of complex64 (64 bytes, one cache
line, 64-byte aligned) so that a trilinear neighbourhood touches 3.4 cache lines on average
instead of 4.5, and each row of the slice is located (and its cache lines prefetched) one row
ahead of the row being interpolated: random slices through a 70 MB array are memory-bound, and
this keeps many loads in flight (about 4x faster than a plain loop at box 128).

Layout (see :func:`brick_layout`): the centred half-transform ``C[qz + off, qy + off, qx]``
(qx >= 0, rfft half; qy, qz wrapped periodically over a little more than [-N/2, N/2], so the
8 neighbours of any |q| <= N/2 are in range without modulo arithmetic) is stored flat with
``C[z, y, x]`` at ``(z>>1)*bz + (y>>1)*by + (x>>1)*8 + (z&1)*4 + (y&1)*2 + (x&1)``.
Points with qx < 0 use Friedel symmetry F(-q) = conj F(q). The kernel releases the GIL. Floating
point follows source order (no reassociation or FMA contraction), so results do not depend on
the CPU's SIMD width.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# Only the fast-math flags that cannot change a finite result: no reassociation, contraction
# (FMA), reciprocal or approximate functions, whose effect depends on the CPU's vector width and
# instruction set. Same speed as fastmath=True (bench/bench_projector.py: two-slice kernel 45 vs
# 47 us/image at box 64); fastmath=False cost 35% in the kernel, 12-15% end to end.
_FAST = {"nnan", "ninf", "nsz"}

# LLVM >= 15 uses opaque pointers and names the intrinsic by address space only
_PREFETCH = "llvm.prefetch.p0" if llvm_binding.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch arr[idx] into cache (read, keep); never faults."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]],
                                       wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), _PREFETCH)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def brick_layout(centred: np.ndarray):
    """Re-lay a centred half-transform (Z, Y, X) complex64 into 64-byte-aligned 2x2x2 bricks.
    Returns (flat complex64 array, bz, by): the strides of one brick step in z and in y."""
    z, y, x = (s + s % 2 for s in centred.shape)
    if (z, y, x) != centred.shape:
        padded = np.zeros((z, y, x), dtype=np.complex64)
        padded[: centred.shape[0], : centred.shape[1], : centred.shape[2]] = centred
        centred = padded
    size = z * y * x
    raw = np.empty(size + 8, dtype=np.complex64)
    start = (-raw.ctypes.data % 64) // raw.itemsize
    flat = raw[start: start + size]
    flat.reshape(z // 2, y // 2, x // 2, 2, 2, 2)[...] = \
        centred.reshape(z // 2, 2, y // 2, 2, x // 2, 2).transpose(0, 2, 4, 1, 3, 5)
    return flat, (y // 2) * (x // 2) * 8, (x // 2) * 8


def bricks_from_transform(ft: np.ndarray, off: int):
    """The bricks of the centred half-transform written straight from a padded rfftn ``ft``
    (N, N, N//2+1) whose origin is index 0: ``C[z, y, x] = ft[(z - off) % N, (y - off) % N, x]``
    for x <= N//2, else 0, laid out as :func:`brick_layout` lays out C (same values, same
    strides), without the centred array in between. Returns (flat, bz, by)."""
    n = ft.shape[0]
    size_zy = n + 4 + n % 2
    size_x = n // 2 + 3 + (n // 2 + 3) % 2
    size = size_zy * size_zy * size_x
    raw = np.empty(size + 8, dtype=np.complex64)
    start = (-raw.ctypes.data % 64) // raw.itemsize
    flat = raw[start: start + size]
    by = (size_x // 2) * 8
    bz = (size_zy // 2) * by
    _fill_bricks(np.ascontiguousarray(ft, dtype=np.complex64), flat, off, size_zy, size_x, bz, by)
    return flat, bz, by


@numba.njit(cache=True, nogil=True)
def _fill_bricks(ft, flat, off, size_zy, size_x, bz, by):
    n = ft.shape[0]
    h = ft.shape[2]
    zero = np.complex64(0)
    for z in range(size_zy):
        sz = (z - off) % n
        zb = (z >> 1) * bz + ((z & 1) << 2)
        for y in range(size_zy):
            sy = (y - off) % n
            yb = zb + (y >> 1) * by + ((y & 1) << 1)
            for x in range(size_x):
                flat[yb + (x >> 1) * 8 + (x & 1)] = ft[sz, sy, x] if x < h else zero


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _locate(qx, qy, qz, off, bz, by):
    """Brick index of the neighbourhood's lowest corner, its parity code (bit 0: x odd,
    1: y odd, 2: z odd), fractional offsets, and -1 where Friedel symmetry was used."""
    sign = np.float32(1.0)
    if qx < 0.0:
        qx, qy, qz = -qx, -qy, -qz
        sign = np.float32(-1.0)
    fx0 = math.floor(qx)
    fy0 = math.floor(qy)
    fz0 = math.floor(qz)
    x0 = int(fx0)
    y0 = int(fy0) + off
    z0 = int(fz0) + off
    code = (x0 & 1) | ((y0 & 1) << 1) | ((z0 & 1) << 2)
    base = (z0 >> 1) * bz + (y0 >> 1) * by + (x0 >> 1) * 8 + ((z0 & 1) << 2) + ((y0 & 1) << 1) + (x0 & 1)
    return base, code, np.float32(qx - fx0), np.float32(qy - fy0), np.float32(qz - fz0), sign


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _steps(code, bz, by):
    """Flat offsets to the +1 neighbour in x, y, z (inside the brick or into the next one)."""
    dx = 7 if code & 1 else 1
    dy = by - 2 if code & 2 else 2
    dz = bz - 4 if code & 4 else 4
    return dx, dy, dz


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _trilinear(F, base, code, fx, fy, fz, bz, by):
    dx, dy, dz = _steps(code, bz, by)
    gx = np.float32(1.0) - fx
    gy = np.float32(1.0) - fy
    gz = np.float32(1.0) - fz
    v00 = F[base] * gx + F[base + dx] * fx
    v01 = F[base + dy] * gx + F[base + dy + dx] * fx
    v10 = F[base + dz] * gx + F[base + dz + dx] * fx
    v11 = F[base + dz + dy] * gx + F[base + dz + dy + dx] * fx
    return (v00 * gy + v01 * fy) * gz + (v10 * gy + v11 * fy) * fz


@numba.njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _prefetch_neighbourhood(F, base, code, bz, by):
    dx, dy, dz = _steps(code, bz, by)
    _prefetch(F, base)
    _prefetch(F, base + dy)
    _prefetch(F, base + dz)
    _prefetch(F, base + dz + dy)
    if code & 1:  # x0 odd: the x neighbours sit in the next brick
        _prefetch(F, base + dx)
        _prefetch(F, base + dy + dx)
        _prefetch(F, base + dz + dx)
        _prefetch(F, base + dz + dy + dx)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _locate_row(F, r0, r1, ky, n, off, bz, by, base, code, w):
    """Locate (and prefetch) the n samples of row ky of one slice: q = kx * r0 + ky * r1."""
    for i in range(n):
        b, c, fx, fy, fz, sign = _locate(i * r0[0] + ky * r1[0], i * r0[1] + ky * r1[1],
                                         i * r0[2] + ky * r1[2], off, bz, by)
        base[i] = b
        code[i] = c
        w[i, 0] = fx
        w[i, 1] = fy
        w[i, 2] = fz
        w[i, 3] = sign
        _prefetch_neighbourhood(F, b, c, bz, by)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def two_body_slices(f_lsu, f_ssu, bz, by, off, rows_l, rows_s, shift_x, shift_y, ssu_x, ssu_y,
                    ctf, use_ctf, out):
    """Fill ``out`` (B, D, D//2+1) complex64 with the (CTF-modulated) spectra of B images.

    f_lsu, f_ssu: brick layouts (:func:`brick_layout`) with strides bz, by and offset off.
    rows_l, rows_s: (B, 2, 3) float64, the first two rows of A and of A @ Rc times the padding
    factor (3D frequency = kx * row0 + ky * row1, in padded voxels). shift_x (B, D//2+1),
    shift_y (B, D) complex64: separable phase of the image-centre and origin shift; ssu_x,
    ssu_y: the same for the SSU's pivot shift. ctf: (B, D, D//2+1) float32, read only when
    use_ctf. Frequencies outside the circle |k| <= D//2 are set to zero.
    """
    n_img, d, h = out.shape
    r2max = (d // 2) * (d // 2)
    nrow = np.empty(d, np.int64)
    kys = np.empty(d, np.int64)
    for j in range(d):
        ky = j if j < (d + 1) // 2 else j - d
        rem = r2max - ky * ky
        kys[j] = ky
        nrow[j] = 0 if rem < 0 else min(h - 1, int(math.sqrt(rem))) + 1
    base_l = np.empty((2, h), np.int64)
    base_s = np.empty((2, h), np.int64)
    code_l = np.empty((2, h), np.int64)
    code_s = np.empty((2, h), np.int64)
    w_l = np.empty((2, h, 4), np.float32)
    w_s = np.empty((2, h, 4), np.float32)
    for b in range(n_img):
        l0, l1, s0, s1 = rows_l[b, 0], rows_l[b, 1], rows_s[b, 0], rows_s[b, 1]
        _locate_row(f_lsu, l0, l1, kys[0], nrow[0], off, bz, by, base_l[0], code_l[0], w_l[0])
        _locate_row(f_ssu, s0, s1, kys[0], nrow[0], off, bz, by, base_s[0], code_s[0], w_s[0])
        for j in range(d):
            cur = j & 1
            if j + 1 < d:  # software pipelining: next row's loads are under way meanwhile
                nxt = 1 - cur
                _locate_row(f_lsu, l0, l1, kys[j + 1], nrow[j + 1], off, bz, by,
                            base_l[nxt], code_l[nxt], w_l[nxt])
                _locate_row(f_ssu, s0, s1, kys[j + 1], nrow[j + 1], off, bz, by,
                            base_s[nxt], code_s[nxt], w_s[nxt])
            phase_y = shift_y[b, j]
            ssu_phase_y = ssu_y[b, j]
            for i in range(nrow[j]):
                wl = w_l[cur, i]
                vl = _trilinear(f_lsu, base_l[cur, i], code_l[cur, i], wl[0], wl[1], wl[2], bz, by)
                vl = complex(vl.real, vl.imag * wl[3])
                ws = w_s[cur, i]
                vs = _trilinear(f_ssu, base_s[cur, i], code_s[cur, i], ws[0], ws[1], ws[2], bz, by)
                vs = complex(vs.real, vs.imag * ws[3])
                v = (vl + vs * (ssu_x[b, i] * ssu_phase_y)) * (shift_x[b, i] * phase_y)
                if use_ctf:
                    v = v * ctf[b, j, i]
                out[b, j, i] = v
            for i in range(nrow[j], h):
                out[b, j, i] = 0
