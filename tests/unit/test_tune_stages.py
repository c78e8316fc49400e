"""`ragq models tune`'s search: generation threads first (prompts on every core), then prompt threads at the fastest
generation count; the winner by the typical answer, not by whichever answers happened to be short."""

from ragq.producer.tune import Trial, fastest, generation_stage, later_stage
from ragq.shared.models.placement import Placement


def test_two_stages_on_two_and_eight_cores():
    assert [p.label() for p in generation_stage(2)] == ["t2/b2", "t1/b2"]
    assert [p.label() for p in later_stage(2, 2, supports_offload=False)] == ["t2/b1", "t2/b2 fa"]
    assert [p.label() for p in generation_stage(8)] == ["t8/b8", "t7/b8", "t4/b8", "t1/b8"]
    later = later_stage(8, 4, supports_offload=True)
    assert later[0] == Placement(n_threads=4, n_threads_batch=4)
    assert later[1] == Placement(n_threads=4, n_threads_batch=8, flash_attn=True)  # on the CPU
    assert [(p.n_threads, p.n_gpu_layers, p.flash_attn) for p in later[2:]] == [(4, -1, False), (4, -1, True)]
    assert [p.label() for p in generation_stage(2, quick=True)] == ["t2/b2", "t1/b2"]
    assert later_stage(2, 1, supports_offload=True, quick=True) == []
    # one core: prompts on half the cores is every core
    assert [p.label() for p in later_stage(1, 1, supports_offload=False)] == ["t1/b1 fa"]


def trial(n_threads, prompt_tok_s, gen_tok_s, prompt_tokens, gen_tokens):
    n = len(prompt_tokens)
    return Trial(Placement(n_threads=n_threads, n_threads_batch=2), [prompt_tok_s] * n, [gen_tok_s] * n,
                 [1.0] * n, prompt_tokens, gen_tokens)  # fmt: skip


def test_the_fastest_is_judged_on_the_typical_answer():
    # t1 happened to write short answers (fast answers), t2 is faster per token: t2 wins on the typical answer
    t2 = trial(2, 250.0, 70.0, [600, 600], [250, 250])
    t1 = trial(1, 250.0, 42.0, [600, 600], [20, 20])
    assert fastest([t1, t2]) is t2
