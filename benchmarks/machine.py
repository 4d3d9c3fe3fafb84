"""The machine a benchmark ran on, as the benchmarks print it."""

import platform

ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
             "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")


def cpu_description():
    """"<model name>; ISA: <the extensions of ISA_FLAGS this CPU has>"."""
    name, present = platform.processor() or "unknown CPU", []
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        name = next(line.split(":", 1)[1].strip() for line in info.splitlines()
                    if line.startswith("model name"))
        cpu_flags = set(next(line.split(":", 1)[1].split() for line in info.splitlines()
                             if line.startswith("flags")))
        present = [f for f in ISA_FLAGS if f in cpu_flags]
    except (OSError, StopIteration):
        pass
    missing = [f for f in ("avx512_bf16", "amx_bf16") if f not in present]
    return (f"{name}; ISA: {', '.join(present) or 'unknown'}"
            + (f" (no {', '.join(missing)})" if missing else ""))
