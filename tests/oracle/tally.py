"""PASS/FAIL lines and the closing 'N passed, M failed' line that ctest logs and CI read."""


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, line):
        print(f"{'PASS' if ok else 'FAIL'} {line}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
