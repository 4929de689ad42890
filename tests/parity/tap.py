"""What the parity tests share: TAP output as meson's 'tap' protocol reads it, and running
wordpatch-cli."""
import json
import os
import subprocess
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

    def self_check(self, check):
        """One result: the reference's own check runs without an AssertionError."""
        try:
            check()
            self.result(True, 'reference self-check', [])
        except AssertionError as e:
            self.result(False, 'reference self-check', [str(e)])

    def exit_status(self):
        """1, after a line counting them, when any result failed; else 0."""
        if self.failed:
            print(f'# FAILED {self.failed} of {self.count}')
        return 1 if self.failed else 0


def find_cli(argv):
    """wordpatch-cli from argv[1] or $WORDPATCH_CLI; None, after TAP's 'Bail out!', when that is
    no executable."""
    cli = argv[1] if len(argv) > 1 else os.environ.get('WORDPATCH_CLI')
    if not cli or not os.access(cli, os.X_OK):
        print(f'Bail out! wordpatch-cli not found or not executable: {cli!r} '
              '(pass it as argv[1] or set WORDPATCH_CLI)')
        return None
    return cli


def run_command(cmd, timeout):
    """(stdout as bytes, None), or (None, error text) when cmd times out (seconds) or fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f'timed out after {timeout} s: {" ".join(cmd)}'
    if proc.returncode != 0:
        stderr = proc.stderr.decode('utf-8', 'replace').strip()
        return None, f'{" ".join(cmd)}: exit status {proc.returncode}: {stderr[-2000:]}'
    return proc.stdout, None


def run_json(cmd, timeout):
    """(the JSON object cmd prints, None) or (None, error text), as run_command()."""
    stdout, error = run_command(cmd, timeout)
    if error:
        return None, error
    try:
        return json.loads(stdout.decode('utf-8')), None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f'stdout is not one JSON object ({e}): {stdout[:300]!r}'
