"""The GPU path (issue 11), under the ``gpu`` marker: skipped cleanly without CUDA, never needed by CI.

A training step under bf16 and fp16 autocast (fp16 with a GradScaler) in channels_last, feature extraction,
the rankings of fp32 and bf16 features agreeing within a tolerance, generator states restored from the GPU
(a resumed run), and a model trained in channels_last giving its checkpoint's features to the last bit.
"""

import dataclasses
import random
from collections import namedtuple

import numpy as np
import pytest
import torch
from PIL import Image

from vireid_lib.checkpoints import load_model
from vireid_lib.config import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, TrainConfig
from vireid_lib.data import open_dataset
from vireid_lib.data.records import Record
from vireid_lib.data import transforms  # not `import test_transform`: pytest would collect it as a test
from vireid_lib.ablation.report import metrics_of
from vireid_lib.evaluation.extract import extract_features
from vireid_lib.evaluation.protocols import evaluate
from vireid_lib.losses import Objective
from vireid_lib.models import build_model
from vireid_lib.schedule import build_optimizer
from vireid_lib.seeding import rng_state, seed_everything, set_rng_state
from vireid_lib.training import fit, train_one_epoch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the gpu marker's tests)")]

CFG = ModelConfig(arch="resnet18", parts=3, local_dim=32, mca_stages=(2, 3))
Batch = namedtuple("Batch", "visible exchanged infrared labels")


def _batches(n=2, ids=4, k=2, h=96, w=48):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(ids).repeat_interleave(k)
    return [Batch(*(torch.randn(ids * k, 3, h, w, generator=g) for _ in range(3)), labels) for _ in range(n)]


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_training_step_under_autocast(amp, channels_last):
    torch.manual_seed(0)
    model = build_model(CFG, 4).cuda()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = build_optimizer(model, TrainConfig(lr=0.01))
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    records = []
    train_one_epoch(model, Objective(LossConfig(center_reduction="mean", center_triplet_reduction="mean"), True),
                    _batches(), opt, epoch=0, device="cuda", amp=amp, channels_last=channels_last, scaler=scaler,
                    on_step=records.append)
    assert len(records) == 2 and all(torch.isfinite(torch.tensor(r.total)) for r in records)
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())


def _records(tmp_path, n=24):
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(n):
        a = (torch.rand(96, 48, 3, generator=g) * 255).to(torch.uint8).numpy()
        p = tmp_path / f"{i}.png"
        Image.fromarray(a).save(p)
        out.append(Record(str(p), i % 6, 1 + i % 2, "visible"))
    return out


def test_extraction_and_bf16_rankings_match_fp32(tmp_path):
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(CFG, pretrained=None), 6).cuda().eval()
    records = _records(tmp_path)
    transform = transforms.test_transform(96, 48)
    f32 = extract_features(model, records, transform, progress=False, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        bf16 = extract_features(model, records, transform, progress=False, device="cuda")
    assert f32.shape == bf16.shape and torch.isfinite(torch.as_tensor(bf16)).all()
    f32, bf16 = torch.as_tensor(f32).float(), torch.as_tensor(bf16).float()
    cos = torch.nn.functional.cosine_similarity(f32, bf16, dim=1)
    assert cos.min() > 0.99
    # each image's nearest other image is the same under both precisions for nearly every image
    d32, d16 = torch.cdist(f32, f32).fill_diagonal_(float("inf")), torch.cdist(bf16, bf16).fill_diagonal_(float("inf"))
    agree = (d32.argmin(1) == d16.argmin(1)).float().mean()
    assert agree >= 0.9


def test_random_streams_restored_from_tensors_on_the_gpu():
    """A checkpoint loaded with map_location="cuda" brings its generator states onto the GPU; restoring them
    continues every stream where it stopped (torch takes them as CPU tensors only)."""
    seed_everything(3)
    saved = rng_state()
    expected = (torch.rand(4), torch.rand(4, device="cuda"), np.random.rand(2), random.random())
    on_gpu = {**saved, "torch": saved["torch"].cuda(), "cuda": [s.cuda() for s in saved["cuda"]],   # as torch.load
              "numpy": {**saved["numpy"], "keys": saved["numpy"]["keys"].cuda()},               # with map_location
              "python": {**saved["python"], "state": saved["python"]["state"].cuda()}}          # "cuda" gives
    assert on_gpu["torch"].is_cuda and on_gpu["numpy"]["keys"].is_cuda
    seed_everything(4)
    set_rng_state(on_gpu)
    got = (torch.rand(4), torch.rand(4, device="cuda"), np.random.rand(2), random.random())
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert np.array_equal(got[2], expected[2]) and got[3] == expected[3]


def test_a_model_trained_in_channels_last_gives_its_checkpoints_features(tmp_path):
    """fit returns its model in the format load_model gives, so the features of the trained model are, to the
    last bit, those of its checkpoint on the GPU too (cuDNN's channels_last kernels round otherwise), and a
    run resumed on the GPU continues (its generator states come back from the GPU)."""
    cfg = Config(name="tiny", data=DataConfig(dataset="regdb", height=96, width=48, num_workers=0, cache=False,
                                               synthetic_smoke=True),
                 model=ModelConfig(arch="resnet10", width=16, parts=3, local_dim=16, mca_stages=(3,)),
                 loss=LossConfig(), eval=EvalConfig(batch_size=16, flip=True),
                 train=TrainConfig(epochs=1, lr=0.01, warmup_epochs=1, ids_per_batch=2, per_modality=2,
                                   max_steps_per_epoch=2, eval_every=0, device="cuda", channels_last=True))
    reader = open_dataset(cfg.data)
    fitted = fit(cfg, tmp_path, progress=False, eval_fn=lambda *_: {}, reader=reader)
    loaded, _ = load_model(fitted.last)   # on the CPU, as every checkpoint loads
    records = reader.query("v2t")[:20]
    transform = transforms.test_transform(96, 48)
    a = extract_features(fitted.model, records, transform, progress=False)
    b = extract_features(loaded, records, transform, progress=False, device="cuda")   # moved there and back
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert next(loaded.parameters()).device.type == "cpu"
    # the protocol evaluates the CPU model on the GPU, as the trained one: the same numbers, to the last bit
    assert metrics_of(evaluate(loaded, cfg, reader, progress=False)) == \
        metrics_of(evaluate(fitted.model, cfg, reader, progress=False))
    assert next(loaded.parameters()).device.type == "cpu"
    longer = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=2))
    assert fit(longer, tmp_path, progress=False, eval_fn=lambda *_: {}, reader=reader).epochs == 2
