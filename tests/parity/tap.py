"""TAP output for the parity tests, as meson's 'tap' protocol reads it."""
import sys


class Tap:
    def __init__(self, planned):
        self.count = 0
        self.failed = 0
        print(f'1..{planned}', flush=True)

    def result(self, passed, description, lines):
        self.count += 1
        self.failed += not passed
        print(f'{"ok" if passed else "not ok"} {self.count} - {description}')
        for line in lines:
            print(f'# {line}')
        sys.stdout.flush()
