"""torch_bench.py: the PyTorch side of W1, W2 and W5 (bench/run runs it).

    python3 torch_bench.py DATA_DIR THREADS W1|W2|W5...

Reads the seeded data that bench_harness wrote (DATA_DIR/w1.bin, w2.bin, w5.bin:
float64 arrays one after the other, in the order below), computes the same
loss on CPU in float64, checks it against nothing itself (bench/run compares
the `C` lines with exprc's and the hand-written C's), and times forward and
forward+backward the way bench/timing.c does: a warm-up, samples of about
20 ms, the median over 21 samples. Prints the same tab-separated lines as
bench_harness. Exits 3 when torch is not installed, so bench/run can skip.
"""
import sys
import time

try:
    import torch
except ImportError:
    sys.exit(3)

SAMPLES, SAMPLE_S, WARMUP_S = 21, 0.02, 0.1


def run_calls(fn, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - t0


def measure(fn):
    """Median, quartiles (seconds per call), calls per sample, samples."""
    calls, spent, t = 1, 0.0, 0.0
    while spent < WARMUP_S or t < SAMPLE_S:
        t = run_calls(fn, calls)
        spent += t
        if t < SAMPLE_S:
            calls *= 2
    if t > 2 * SAMPLE_S and calls > 1:
        calls = max(1, int(calls * SAMPLE_S / t))
    per = sorted(run_calls(fn, calls) / calls for _ in range(SAMPLES))
    return per[SAMPLES // 2], per[SAMPLES // 4], per[3 * SAMPLES // 4], calls


def report(w, name, fn):
    med, q1, q3, calls = measure(fn)
    print(f"R\t{w}\t{name}\t{med:.6e}\t{q1:.6e}\t{q3:.6e}\t{calls}\t{SAMPLES}",
          flush=True)


def check(w, what, value):
    print(f"C\t{w}\t{what}\t{value!r}", flush=True)


def load(path, shapes):
    data = torch.from_file(path, size=sum(torch.Size(s).numel() for s in shapes),
                           dtype=torch.float64)
    out, k = [], 0
    for s in shapes:
        n = torch.Size(s).numel()
        out.append(data[k:k + n].reshape(s).clone())
        k += n
    return out


def time_loss(w, tag, loss_fn, params):
    """Check a loss and its gradients, then time its forward pass (no_grad)
    and its gradient with respect to params."""
    def forward():
        with torch.no_grad():
            return loss_fn()

    def gradient():
        loss = loss_fn()
        return loss, torch.autograd.grad(loss, params)

    loss, grads = gradient()
    check(w, "loss torch" + tag, loss.item())
    check(w, "sum of torch gradients" + tag, float(sum(g.sum() for g in grads)))
    report(w, "PyTorch%s forward (no_grad)" % tag, forward)
    report(w, "PyTorch%s gradient" % tag, gradient)


def mlp_case(w, path, shapes, batch_axis, f32=False):
    """The loss of bench/models/w1_mlp784.expr (batch_axis) or w2_mlp4.expr;
    f32: the same numbers rounded to float32, computed in float32."""
    X, Y, W1, b1, W2, b2 = [a.float() if f32 else a for a in load(path, shapes)]
    tag = " float32" if f32 else ""
    params = [p.requires_grad_() for p in (W1, b1, W2, b2)]

    def loss_fn():
        if batch_axis:
            H = torch.tanh(X @ W1 + b1)
            Z = H @ W2 + b2
            return -(Y * torch.log_softmax(Z, dim=1)).sum() / X.shape[0]
        h = torch.tanh(W1 @ X + b1)
        z = W2 @ h + b2
        return -(Y * torch.log_softmax(z, dim=0)).sum()

    time_loss(w, tag, loss_fn, params)


def lenet_case(w, path, f32=False):
    """The loss of bench/models/w5_lenet.expr (f32: in float32)."""
    F = torch.nn.functional
    shapes = [(32, 1, 28, 28), (32, 10), (6, 1, 5, 5), (6, 1, 1),
              (16, 6, 5, 5), (16, 1, 1), (256, 120), (120,), (120, 10), (10,)]
    X, Y, C1, c1, C2, c2, W3, b3, W4, b4 = [
        a.float() if f32 else a for a in load(path, shapes)]
    tag = " float32" if f32 else ""
    params = [p.requires_grad_() for p in (C1, c1, C2, c2, W3, b3, W4, b4)]

    def loss_fn():
        h1 = F.max_pool2d(F.relu(F.conv2d(X, C1) + c1), 2)
        h2 = F.max_pool2d(F.relu(F.conv2d(h1, C2) + c2), 2)
        h3 = F.relu(h2.reshape(32, 256) @ W3 + b3)
        Z = h3 @ W4 + b4
        return -(Y * torch.log_softmax(Z, dim=1)).sum() / 32

    time_loss(w, tag, loss_fn, params)


def main():
    data, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    print(f"I\ttorch\t{torch.__version__}\t{torch.get_num_threads()} threads",
          flush=True)
    if "W1" in sys.argv[3:]:
        for f32 in (False, True):
            mlp_case("W1", f"{data}/w1.bin",
                     [(64, 784), (64, 10), (784, 128), (128,), (128, 10),
                      (10,)], True, f32)
    if "W2" in sys.argv[3:]:
        mlp_case("W2", f"{data}/w2.bin",
                 [(4,), (3,), (16, 4), (16,), (3, 16), (3,)], False)
    if "W5" in sys.argv[3:]:
        lenet_case("W5", f"{data}/w5.bin")
        lenet_case("W5", f"{data}/w5.bin", True)


if __name__ == "__main__":
    main()
