from __future__ import annotations

import os
import threading
import time

from pipelines.bench.procs import TreeSampler, thread_cpu, thread_kind


def test_thread_kinds_follow_the_jvm_and_spark_thread_names() -> None:
    assert thread_kind("C2 CompilerThre") == thread_kind("C1 CompilerThre") == "jit"
    assert thread_kind("GC Thread#0") == thread_kind("G1 Conc#0") == "gc"
    assert thread_kind("Executor task l") == "spark_tasks"
    assert thread_kind("Thread-7") == thread_kind("dag-scheduler-e") == "other"


def test_a_busy_thread_is_sampled_under_its_kind() -> None:
    spun, release = threading.Event(), threading.Event()

    def spin() -> None:  # burns 0.3 s of its own CPU, then stays alive until sampled
        deadline = time.thread_time() + 0.3
        while time.thread_time() < deadline:
            pass
        spun.set()
        release.wait()

    busy = threading.Thread(target=spin, name="spin")
    with TreeSampler(os.getpid(), interval_s=0.05) as sampler:
        while not sampler.usage.kind_samples:  # a first sample before the thread spins
            time.sleep(0.01)
        busy.start()
        spun.wait()
        time.sleep(0.3)
        release.set()
        busy.join()

    usage = sampler.usage
    threads = thread_cpu(os.getpid())
    assert threads and all(kind == "other" for kind, _ in threads.values())
    assert usage.cpu_s_by_kind["other"] >= 0.2
    started, ended = usage.kind_samples[0][0], usage.kind_samples[-1][0]
    assert usage.cpu_between_by_kind(started, ended)["other"] >= 0.2
