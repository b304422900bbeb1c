# The OpenBLAS peer of `mafn bench gemm` and `mafn bench train`: times cblas_sgemm of libopenblas.so.0 (through ctypes)
# on the given shapes in this process, whose environment the caller cleaned; prints one JSON line with the core it ran.
# argv: threads budget_seconds cases_json, cases_json = [[m, n, k, trans_a, trans_b, accumulate], ...]
import array, ctypes, json, random, sys, time

try:
    lib = ctypes.CDLL("libopenblas.so.0")
    sgemm = lib.cblas_sgemm
except (OSError, AttributeError):
    print(json.dumps({"status": "not installed"})); sys.exit(0)
threads, budget, cases = int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
lib.openblas_set_num_threads(threads)
lib.openblas_get_corename.restype = ctypes.c_char_p
lib.openblas_get_config.restype = ctypes.c_char_p
sgemm.restype = None
sgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                        ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
rng = random.Random(1234)
block = array.array("f", [rng.uniform(-1, 1) for _ in range(4099)])

def matrix(count):
    values = block * (count // len(block) + 1)
    return (ctypes.c_float * count).from_buffer(values), values

gflops = []
for m, n, k, trans_a, trans_b, accumulate in cases:
    (a, _a), (b, _b), (c, _c) = matrix(m * k), matrix(k * n), matrix(m * n)
    def run():
        sgemm(ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, 1.0,
              a, m if trans_a else k, b, k if trans_b else n, 1.0 if accumulate else 0.0, c, n)
    run()
    best, started = float("inf"), time.perf_counter()
    while True:
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - started >= budget:
            break
    gflops.append(2.0 * m * n * k / best / 1e9)
print(json.dumps({"status": "ok", "core": lib.openblas_get_corename().decode(), "config": lib.openblas_get_config().decode(),
                  "gflops": gflops}))
