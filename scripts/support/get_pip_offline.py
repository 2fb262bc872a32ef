"""Stand-in for the get-pip.py that ansible-test downloads from its CI host.

That host is unreachable here; the package registry is not. Bootstrap pip
from the interpreter's bundled wheel (ensurepip) and then install the
requested pip version from the package index.
"""
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                          stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()
