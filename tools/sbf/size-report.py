"""What the program's SBPF bytecode is made of: bytes of code by kind, the largest functions, the
largest stack frames and the runtime routines it calls, from the BPF assembly of the final link
(`scripts/build-sbf --size-report`). Fails if the code calls a 128-bit integer routine that
programs/gpushare/src/sbf_builtins.rs does not define: LLVM 23 calls those with the result in R0 and R2,
and the weak definitions that would otherwise link return it through R1 (docs/sbf.md).

Usage: python3 tools/sbf/size-report.py PROGRAM.s
"""
import collections
import re
import subprocess
import sys

# Kinds of code, by what the demangled name says (first match wins).
KINDS = [
    ("Anchor account validation (try_accounts, one per instruction)", lambda n: "try_accounts" in n),
    ("Anchor account write-back (exit)", lambda n: "exit_with_expected_owner" in n or "AccountsExit" in n),
    ("instruction entries (argument decoding and handlers)", lambda n: "__private::__global" in n),
    ("error names and messages", lambda n: "::name" in n and ("ErrorCode" in n or "GpuShareError" in n)),
    ("gpushare-core (leaf recomputation, Merkle paths, spot checks)", lambda n: "gpushare_core" in n),
    ("gpushare state rules and handlers", lambda n: n.startswith(("<gpushare", "gpushare"))),
    ("formatting and allocation (core, alloc)", lambda n: "core::fmt" in n or "fmt::" in n or "alloc::" in n),
    ("anchor-lang, other", lambda n: "anchor_lang" in n),
    ("solana and SPL crates", lambda n: "solana" in n or "spl_" in n),
    ("compiler builtins, std, entrypoint", lambda n: True),
]


# The 128-bit routines src/sbf_builtins.rs defines with LLVM 23's calling convention.
SHIMMED = {"__multi3", "__udivti3", "__umodti3", "__divti3", "__modti3"}


def measure(path):
    """Bytes of code and deepest stack offset per function symbol, and calls by callee name."""
    sizes, frames, calls, current = collections.Counter(), collections.Counter(), collections.Counter(), None
    for line in open(path):
        if re.match(r"^[A-Za-z_$][\w.$]*:", line):
            current = line.split(":")[0]
            continue
        text = line.split("#")[0].strip()
        if current is None or not text or text.startswith(".") or text.endswith(":"):
            continue
        # A 64-bit immediate load (`ll`) is two instruction slots; every other instruction one.
        sizes[current] += 16 if text.endswith(" ll") else 8
        for offset in re.findall(r"r10 - (\d+)", text):
            frames[current] = max(frames[current], int(offset))
        callee = re.match(r"call ([A-Za-z_]\w*)$", text)
        if callee and not callee.group(1).startswith(("_R", "_Z")):
            calls[callee.group(1)] += 1
    return sizes, frames, calls


def demangle(names):
    out = subprocess.run(["llvm-cxxfilt-22"], input="\n".join(names), capture_output=True, text=True)
    return dict(zip(names, out.stdout.split("\n")))


def main(path):
    sizes, frames, calls = measure(path)
    names = demangle(list(sizes))
    total = sum(sizes.values())
    kinds = collections.Counter()
    for symbol, size in sizes.items():
        kinds[next(kind for kind, matches in KINDS if matches(names[symbol]))] += size
    print(f"code: {total:,} bytes in {len(sizes)} functions\n")
    print("| bytes | share | kind |\n|---:|---:|---|")
    for kind, size in kinds.most_common():
        print(f"| {size:,} | {100 * size / total:.1f} % | {kind} |")
    print("\nlargest functions:")
    for symbol, size in sizes.most_common(10):
        print(f"  {size:>7,}  {names[symbol][:140]}")
    print("\nlargest stack frames (bytes below the frame pointer; the limit is 4,096):")
    for symbol, depth in frames.most_common(5):
        print(f"  {depth:>7,}  {names[symbol][:140]}")
    print("\nroutines called by name (syscalls, compiler builtins), with their call sites:")
    print("  " + ", ".join(f"{name} {count}" for name, count in calls.most_common()))
    unshimmed = sorted(name for name in calls if re.fullmatch(r"__\w+ti\d", name) and name not in SHIMMED)
    if unshimmed:
        sys.exit(f"size-report: 128-bit routines without LLVM 23's calling convention: {', '.join(unshimmed)}")


if __name__ == "__main__":
    main(sys.argv[1])
