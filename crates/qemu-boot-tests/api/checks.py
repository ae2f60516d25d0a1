"""The drivers' tally: one line per check, then `N passed, N failed`."""


class Checks:
    """Counts and prints the checks."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok - {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {name}: {detail}", flush=True)
        return ok

    def summary(self):
        """Prints the closing line; the exit status it calls for."""
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0
