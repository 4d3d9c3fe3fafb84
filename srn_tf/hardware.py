"""What this machine's CPU can do: its name and the instruction-set extensions that decide speed.

`cpu_flags()` reads the kernel's list (Linux `/proc/cpuinfo`, the x86 flag names such as
`avx512_bf16`, `amx_bf16`); elsewhere it is empty and every choice falls back to float32, which
runs everywhere. The environment variable SRN_TF_CPUINFO names another file in that format, read
instead: what srn-tf would choose on another machine (the tests simulate CPUs with it). `native_bfloat16()` says whether the CPU computes bfloat16 dot products in
hardware (AVX-512-BF16 or AMX-BF16), where bfloat16 convolutions run about twice as fast as
float32 (docs/speed.md), and `describe()` is the line every benchmark prints.
"""

import functools
import os
import platform

# The extensions that matter for srn-tf's speed, in the order benchmarks print them.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
             "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = "/proc/cpuinfo"
CPUINFO_ENV = "SRN_TF_CPUINFO"


def _cpuinfo(path=None):
    return _read_cpuinfo(path or os.environ.get(CPUINFO_ENV) or CPUINFO)


@functools.lru_cache(maxsize=None)
def _read_cpuinfo(path):
    """(model name, frozenset of flags) from a /proc/cpuinfo-style file; (None, ∅) if unreadable."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None, frozenset()
    name = next((line.split(":", 1)[1].strip() for line in lines
                 if line.startswith("model name")), None)
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")),
                 [])
    return name, frozenset(flags)


def cpu_flags(path=None):
    """The CPU's instruction-set flags as the Linux kernel names them (empty where unknown)."""
    return _cpuinfo(path)[1]


def cpu_name(path=None):
    """The CPU's model name, e.g. "AMD EPYC" (platform.processor() or "unknown CPU" elsewhere)."""
    return _cpuinfo(path)[0] or platform.processor() or "unknown CPU"


def native_bfloat16(flags=None):
    """True when the CPU runs bfloat16 dot products natively (AVX-512-BF16 or AMX-BF16)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in BFLOAT16_FLAGS)


def has_amx(flags=None):
    """True when the CPU has AMX tiles for bfloat16 (Intel Xeon since Sapphire Rapids)."""
    flags = cpu_flags() if flags is None else flags
    return "amx_bf16" in flags


def describe(path=None):
    """"<model name>; ISA: <the extensions of ISA_FLAGS present> (no <missing bf16 ones>)"."""
    flags = cpu_flags(path)
    present = [f for f in ISA_FLAGS if f in flags]
    missing = [f for f in BFLOAT16_FLAGS if f not in flags]
    return (f"{cpu_name(path)}; ISA: {', '.join(present) or 'unknown'}"
            + (f" (no {', '.join(missing)})" if missing else ""))
