"""The PyTorch oracle: a long-lived process under Debian's /usr/bin/python3 (torch 1.13, numpy
1.24) that answers batches of differential cases over stdin/stdout (framing: wire.py).

Request {"cases": [case, ...]} + input blobs (shared by the batch) -> answer {"answers": [...]}
+ output blobs, numbered across the whole batch. Evaluation: evaluate.run_case with torch."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import evaluate  # noqa: E402
import wire  # noqa: E402


def main():
    torch.set_num_threads(1)  # the 2 shared cores: doppel runs beside us
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print in a case must not corrupt the pipe
    wire.send(stdout, {"hello": torch.__version__}, [])
    while True:
        try:
            request, blobs = wire.receive(stdin)
        except EOFError:
            return
        answers, out_blobs = [], []
        for case in request["cases"]:
            torch.manual_seed(0)
            answer, case_blobs = evaluate.run_case(case, blobs, torch, F)
            for call in answer["calls"]:
                for entry in call.get("outs", []) + [g for g in call.get("grads", []) if g]:
                    if "blob" in entry:
                        entry["blob"] += len(out_blobs)
            out_blobs += case_blobs
            answers.append(answer)
        wire.send(stdout, {"answers": answers}, out_blobs)


if __name__ == "__main__":
    main()
