#!/usr/bin/python3
"""Python twin of perflaw-worker's SASRec, for side-by-side speed and quality checks.

Same model (post-LN SASRec with fused q/k/v projection, learned positions, item embeddings scaled by
sqrt(d) and shared with the output, final LayerNorm with eps 1e-8, xavier-normal init), same objective
(BCE, one negative per position outside the user's training items, loss summed over positions and divided
by the batch's positions), same packed batch layout (first-fit decreasing, positions as if left-padded)
and the same leave-one-out split, written the way one writes it in Python: idiomatic torch ops (F.dropout)
and batches sampled in Python on the training thread. Runs on Debian's python3-torch, the same LibTorch as
perflaw-worker; on a GPU machine with --device cuda (fp32, as written: no autocast), in PyTorch 2.x.

    /usr/bin/python3 scripts/bench/train_twin.py DATA.txt --epochs 3 [--eval] [--device cuda]
"""
import argparse
import json
import math
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load(path):
    seqs = {}
    for line in open(path):
        u, i = line.split()
        seqs.setdefault(int(u), []).append(int(i))
    users = [seqs[u] for u in sorted(seqs)]
    num_items = max(max(s) for s in users)
    return users, num_items


class Block(torch.nn.Module):
    def __init__(self, d, heads, hidden, p):
        super().__init__()
        self.d, self.heads, self.p = d, heads, p
        self.in_proj = torch.nn.Linear(d, 3 * d)
        self.out_proj = torch.nn.Linear(d, d)
        self.ln1 = torch.nn.LayerNorm(d, eps=1e-8)
        self.ln2 = torch.nn.LayerNorm(d, eps=1e-8)
        self.fc1 = torch.nn.Linear(d, hidden)
        self.fc2 = torch.nn.Linear(hidden, d)
        for w in (self.in_proj.weight, self.out_proj.weight, self.fc1.weight, self.fc2.weight):
            torch.nn.init.xavier_normal_(w)
        torch.nn.init.zeros_(self.in_proj.bias)
        torch.nn.init.zeros_(self.out_proj.bias)

    def attn(self, x, mask):
        r, l, d = x.shape
        h, dh = self.heads, d // self.heads
        q, k, v = self.in_proj(x).split(d, dim=2)
        if h > 1:
            q, k, v = (t.reshape(r, l, h, dh).transpose(1, 2).reshape(r * h, l, dh) for t in (q, k, v))
            mask = mask.unsqueeze(1).expand(r, h, l, l).reshape(r * h, l, l)
        a = torch.baddbmm(mask, q, k.transpose(1, 2), beta=1.0, alpha=1.0 / math.sqrt(dh))
        a = F.dropout(torch.softmax(a, -1), self.p, self.training)
        out = torch.bmm(a, v)
        if h > 1:
            out = out.reshape(r, h, l, dh).transpose(1, 2).reshape(r, l, d)
        return self.out_proj(out)

    def forward(self, x, mask):
        x = self.ln1(x + self.attn(x, mask))
        f = F.dropout(self.fc2(torch.relu(F.dropout(self.fc1(x), self.p, self.training))), self.p, self.training)
        return self.ln2(x + f)


class Sasrec(torch.nn.Module):
    def __init__(self, num_items, max_len, d, layers, heads, p):
        super().__init__()
        self.d, self.p = d, p
        self.item_emb = torch.nn.Parameter(torch.empty(num_items + 1, d))
        self.pos_emb = torch.nn.Parameter(torch.empty(max_len, d))
        torch.nn.init.xavier_normal_(self.item_emb)
        torch.nn.init.xavier_normal_(self.pos_emb)
        with torch.no_grad():
            self.item_emb[0].zero_()
        self.blocks = torch.nn.ModuleList([Block(d, heads, d, p) for _ in range(layers)])
        self.last_ln = torch.nn.LayerNorm(d, eps=1e-8)

    def forward(self, items, positions, segments):
        x = F.embedding(items, self.item_emb, padding_idx=0) * math.sqrt(self.d) + F.embedding(positions, self.pos_emb)
        x = F.dropout(x, self.p, self.training)
        l = items.shape[1]
        causal = torch.ones(l, l, dtype=torch.bool, device=items.device).tril()
        allowed = (segments.unsqueeze(2) == segments.unsqueeze(1)) & causal
        mask = torch.zeros(allowed.shape, device=items.device).masked_fill_(~allowed, float("-inf"))
        for b in self.blocks:
            x = b(x, mask)
        return self.last_ln(x)


def layout(seqs, max_len):
    """First-fit-decreasing packing into rows, filled from the right (as worker/batches.cc)."""
    length = max(1, max(len(s) for s in seqs))
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    fill, row_of = [], [0] * len(seqs)
    for i in order:
        r = next((r for r, f in enumerate(fill) if f + len(seqs[i]) <= length), None)
        if r is None:
            fill.append(0)
            r = len(fill) - 1
        row_of[i] = r
        fill[r] += len(seqs[i])
    rows = max(1, len(fill))
    items = np.zeros((rows, length), np.int64)
    pos = np.zeros((rows, length), np.int64)
    seg = np.full((rows, length), -1, np.int64)
    fill = [0] * rows
    start = []
    for i, s in enumerate(seqs):
        r, n = row_of[i], len(s)
        fill[r] += n
        c = length - fill[r]
        items[r, c:c + n] = s
        pos[r, c:c + n] = np.arange(max_len - n, max_len)
        seg[r, c:c + n] = i
        start.append(r * length + c)
    return torch.from_numpy(items), torch.from_numpy(pos), torch.from_numpy(seg), start


def train_batch(users, train, train_sets, num_items, max_len, rng):
    inputs, idx, pos_t, neg_t = [], [], [], []
    for u in users:
        t = train[u]
        inputs.append(t[:-1][-max_len:])
    items, positions, segments, start = layout(inputs, max_len)
    for k, u in enumerate(users):
        t, n = train[u], len(inputs[k])
        hist = train_sets[u]
        for j in range(n):
            idx.append(start[k] + j)
            pos_t.append(t[len(t) - n + j])
            neg = rng.randint(1, num_items)
            while neg in hist:
                neg = rng.randint(1, num_items)
            neg_t.append(neg)
    return items, positions, segments, torch.tensor(idx), torch.tensor(pos_t), torch.tensor(neg_t)


def evaluate(model, users, seqs, num_items, max_len, k_neg, split, seed, device):
    """sampled:K HR@10 / NDCG@10 (ranks: ties count against the target)."""
    rng = random.Random(seed)
    model.eval()
    hits = ndcg = 0.0
    with torch.no_grad():
        for b in range(0, len(users), 1024):
            chunk = users[b:b + 1024]
            hists, cands = [], []
            for u in chunk:
                s = seqs[u]
                h = s[:-2] if split == "valid" else s[:-1]
                target = s[-2] if split == "valid" else s[-1]
                hists.append(h[-max_len:])
                taken = set(h) | {target}
                c = [target]
                while len(c) < k_neg + 1:
                    x = rng.randint(1, num_items)
                    if x not in taken:
                        taken.add(x)
                        c.append(x)
                cands.append(c)
            items, positions, segments, start = (t.to(device) if torch.is_tensor(t) else t
                                                 for t in layout(hists, max_len))
            h = model(items, positions, segments).reshape(-1, model.d)
            last = torch.tensor([start[i] + len(hists[i]) - 1 for i in range(len(chunk))], device=device)
            hid = h.index_select(0, last)
            cand = torch.tensor(cands, device=device).reshape(-1)
            w = model.item_emb.index_select(0, cand).reshape(len(chunk), k_neg + 1, -1)
            scores = torch.bmm(w, hid.unsqueeze(2)).squeeze(2)
            rank = (~(scores < scores[:, :1])).sum(1).double()
            hits += (rank <= 10).double().sum().item()
            ndcg += torch.where(rank <= 10, 1.0 / torch.log2(rank + 1), torch.zeros_like(rank)).sum().item()
    model.train()
    return hits / len(users), ndcg / len(users)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--d", type=int, default=50)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval", action="store_true", help="sampled:100 valid/test on 10,000 users at the end")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--out", help="also write the result JSON to this file")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    seqs, num_items = load(a.data)
    train = [s[:-2] if len(s) >= 3 else s for s in seqs]
    train_sets = [set(t) for t in train]
    trainable = [u for u in range(len(seqs)) if len(train[u]) >= 2]
    device = torch.device(a.device)
    model = Sasrec(num_items, a.max_len, a.d, a.layers, a.heads, a.dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.98))
    epochs = []
    for epoch in range(a.epochs):
        order = trainable[:]
        rng.shuffle(order)
        wall, cpu = time.perf_counter(), time.process_time()
        loss_sum, targets = 0.0, 0
        for b in range(0, len(order), a.batch):
            batch = train_batch(order[b:b + a.batch], train, train_sets, num_items, a.max_len, rng)
            items, positions, segments, idx, pos, neg = (t.to(device) for t in batch)
            h = model(items, positions, segments).reshape(-1, a.d).index_select(0, idx)
            w = model.item_emb.index_select(0, torch.cat([pos, neg])).view(2, len(idx), a.d)
            logits = (w * h.unsqueeze(0)).sum(-1)
            loss = F.softplus(-logits[0]).sum() + F.softplus(logits[1]).sum()
            opt.zero_grad(set_to_none=True)
            (loss / len(idx)).backward()
            opt.step()
            loss_sum += loss.item()
            targets += len(idx)
        if device.type == "cuda":
            torch.cuda.synchronize()
        epochs.append({"epoch": epoch + 1, "train_loss": loss_sum / targets,
                       "wall_seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu})
        print(json.dumps(epochs[-1]), file=sys.stderr)
    out = {"epochs": epochs,
           "wall_seconds_per_epoch": sum(e["wall_seconds"] for e in epochs) / len(epochs),
           "cpu_seconds_per_epoch": sum(e["cpu_seconds"] for e in epochs) / len(epochs)}
    if a.eval:
        eval_users = [u for u in range(len(seqs)) if len(seqs[u]) >= 3]
        eval_users = sorted(random.Random(1).sample(eval_users, min(10000, len(eval_users))))
        out["valid_hr10"], out["valid_ndcg10"] = evaluate(model, eval_users, seqs, num_items, a.max_len, 100, "valid", 2,
                                                          device)
        out["test_hr10"], out["test_ndcg10"] = evaluate(model, eval_users, seqs, num_items, a.max_len, 100, "test", 3,
                                                        device)
    print(json.dumps(out))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
