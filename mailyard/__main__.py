"""`python -m mailyard`: what git hooks run (`repos.storage`), the same as `mailyard`."""

from mailyard.cli import main

main()
