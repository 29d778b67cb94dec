"""Trains the distribution tests' model under PyTorch DDP on 2 CPU processes, or on one.

Usage: KERAS_BACKEND=torch python -m tests.entry_points.torch_ddp_fit (one|ddp) OUT_DIR

Keras 3 has no multi-device `fit()` on torch; the route it documents is a
custom loop with `torch.nn.parallel.DistributedDataParallel` around the Keras
model. Writes OUT_DIR/MODE.npz (weights after training) and MODE.json (losses).
"""

import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import torch

from keras_wsoftmax import WSoftmax
from tests.helpers.blobs import blob_model, blobs

GLOBAL_BATCH, STEPS, WORLD = 16, 12, 2


def train(rank, world, out, mode):
    model = blob_model()
    module = model
    if world > 1:
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
        module = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    loss_fn = WSoftmax(0.3)
    x, y = blobs(GLOBAL_BATCH * 4, seed=3)
    losses = []
    for step in range(STEPS):
        start = (step % 4) * GLOBAL_BATCH
        shard = slice(
            start + rank * GLOBAL_BATCH // world, start + (rank + 1) * GLOBAL_BATCH // world
        )
        optimizer.zero_grad()
        loss = loss_fn(torch.as_tensor(y[shard]), module(torch.as_tensor(x[shard])))
        loss.backward()  # DDP averages the gradients over the processes here
        optimizer.step()
        losses.append(float(loss.detach()))
    if rank == 0:
        np.savez(out / f"{mode}.npz", *[np.asarray(w) for w in model.get_weights()])
        (out / f"{mode}.json").write_text(json.dumps({"losses_rank0": losses}))
    # No destroy_process_group(): with gloo on this machine it hung at teardown
    # in about half the runs. A plain exit can abort too ("terminate called
    # without an active exception", gloo's threads at interpreter teardown):
    # leave without running destructors, the results being written.
    if world > 1:
        os._exit(0)


def main(mode, out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if mode == "one":
        train(0, 1, out, mode)
    else:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        torch.multiprocessing.spawn(train, args=(WORLD, out, mode), nprocs=WORLD)


if __name__ == "__main__":
    main(*sys.argv[1:])
