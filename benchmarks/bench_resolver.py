"""Names resolved per second on one core, against a plain dictionary lookup of the same names.

    uv run python benchmarks/bench_resolver.py [--n 20000]

The names are every commune of both official lists, perturbed the way departments write them
(no diacritics, abbreviations, NFD, case and spacing), each with its parents. The baseline is an
exact-match dict lookup on the official names: the floor any resolver pays.
"""

from __future__ import annotations

import argparse
import random
import time
import unicodedata

from ntm_core.units import reference as ref
from ntm_core.units.resolver import _scope, index, resolve


def perturb(name: str, rng: random.Random) -> str:
    choice = rng.randrange(4)
    if choice == 0:
        text = "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))
        return text.replace("đ", "d").replace("Đ", "D")
    if choice == 1:
        return name.replace("Xã ", "X. ").replace("Phường ", "P. ").replace("Thị trấn ", "TT. ")
    if choice == 2:
        return unicodedata.normalize("NFD", name)
    return "  " + name.upper() + " "


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    rng = random.Random(7)
    t0 = time.perf_counter()
    index()
    load = time.perf_counter() - t0
    by_key = ref.units_by_key()
    communes = [u for u in ref.load_units() if u.level == "commune"]
    picks = [rng.choice(communes) for _ in range(args.n)]
    inputs = []
    for u in picks:
        parent = by_key[u.parent_key]
        inputs.append(
            (
                perturb(u.name, rng),
                parent.name if parent.level == "district" else None,
                by_key[u.province_key].name,
                u.list_version,
                u.key,
            )
        )

    baseline = {(u.name, u.list_version): u.key for u in communes}
    t0 = time.perf_counter()
    hits = sum(baseline.get((u.name, u.list_version)) is not None for u in picks)
    base_s = time.perf_counter() - t0

    _scope.cache_clear()
    t0 = time.perf_counter()
    outcome = {"matched": 0, "ambiguous": 0, "not_found": 0, "wrong": 0}
    for name, parent, province, version, key in inputs:
        got = resolve(name, parent, province, list_version=version)
        outcome[got.status] += 1
        if got.status == "matched" and got.unit.key != key:
            outcome["wrong"] += 1
    elapsed = time.perf_counter() - t0
    print(f"index build: {load:.2f} s (once per process)")
    print(f"resolver: {args.n} names in {elapsed:.2f} s = {args.n / elapsed:,.0f} names/s  {outcome}")
    print(f"baseline dict lookup of official names: {hits} in {base_s:.4f} s = {args.n / base_s:,.0f} names/s")
    print(f"ratio resolver/baseline speed: {(args.n / elapsed) / (args.n / base_s):.4f}")


if __name__ == "__main__":
    main()
