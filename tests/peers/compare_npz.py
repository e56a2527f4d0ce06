#!/usr/bin/python3
"""Compare the same-named arrays of two .npz files.

    /usr/bin/python3 tests/peers/compare_npz.py A.npz B.npz [--atol 1e-4] [--rtol 0]
                                                [--only NAME[,NAME...]]

A is the candidate, B the reference: every array of B must be in A with the same shape and
the same dtype class (float / signed int / unsigned int / bool), and
|a - b| <= atol + rtol * |b| everywhere (NaN must match NaN). Arrays only in A are listed
and ignored. One line per array; exit 0 when all match, 1 otherwise, 2 on usage or I/O error.
"""

import argparse
import sys

import numpy as np


def dtype_class(dt):
    if dt.kind == "f":
        return "float"
    if dt.kind == "i":
        return "int"
    if dt.kind == "u":
        return "uint"
    if dt.kind == "b":
        return "bool"
    return dt.kind


def compare(name, a, b, atol, rtol):
    if a.shape != b.shape:
        return False, "shape %s != %s" % (a.shape, b.shape)
    ca, cb = dtype_class(a.dtype), dtype_class(b.dtype)
    if ca != cb:
        return False, "dtype %s (%s) != %s (%s)" % (a.dtype, ca, b.dtype, cb)
    if a.size == 0:
        return True, "empty"
    if ca == "float":
        af = a.astype(np.float64)
        bf = b.astype(np.float64)
        nan_a, nan_b = np.isnan(af), np.isnan(bf)
        if (nan_a != nan_b).any():
            return False, "NaN positions differ (%d vs %d NaNs)" % (nan_a.sum(), nan_b.sum())
        ok_mask = ~nan_b
        diff = np.where(ok_mask, np.abs(af - bf), 0.0)
        # equal infinities give nan differences: treat as 0
        same_inf = np.isinf(af) & np.isinf(bf) & (np.sign(af) == np.sign(bf))
        diff = np.where(same_inf, 0.0, diff)
        diff = np.nan_to_num(diff, nan=np.inf)
        tol = atol + rtol * np.abs(np.where(ok_mask & ~same_inf, bf, 0.0))
        bad = diff > tol
        maxd = float(diff.max())
        idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
        msg = "max_abs_diff %.3g at %s (%.6g vs %.6g)" % (maxd, list(idx), af[idx], bf[idx])
        if bad.any():
            return False, "%s; %d of %d elements over tolerance" % (msg, int(bad.sum()), a.size)
        return True, msg
    diff = np.abs(a.astype(np.int64) - b.astype(np.int64)) if ca != "bool" else (a != b)
    nbad = int((diff > atol).sum()) if ca != "bool" else int(diff.sum())
    if nbad:
        return False, "%d of %d elements differ" % (nbad, a.size)
    return True, "exact"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("a", help="candidate .npz")
    ap.add_argument("b", help="reference .npz")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=0.0)
    ap.add_argument("--only", default="", help="comma-separated array names to compare")
    args = ap.parse_args(argv)
    try:
        a = np.load(args.a, allow_pickle=False)
        b = np.load(args.b, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - report any load failure the same way
        print("compare_npz: cannot load: %s" % e, file=sys.stderr)
        return 2
    names = list(b.files)
    if args.only:
        names = [n for n in args.only.split(",") if n]
    ok = True
    for name in names:
        if name not in b.files:
            print("FAIL %-24s missing in %s" % (name, args.b))
            ok = False
            continue
        if name not in a.files:
            print("FAIL %-24s missing in %s" % (name, args.a))
            ok = False
            continue
        good, msg = compare(name, a[name], b[name], args.atol, args.rtol)
        ok &= good
        print("%s %-24s %-22s %s" % ("ok  " if good else "FAIL", name,
                                     "%s%s" % (b[name].dtype, list(b[name].shape)), msg))
    for name in a.files:
        if name not in b.files and not args.only:
            print("note %-24s only in %s (ignored)" % (name, args.a))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
