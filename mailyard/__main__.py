"""`python -m mailyard`: what git hooks and sshd run (`repos.storage`, `mailyard ssh`),
the same as `mailyard`."""

from mailyard.entry import main

main()
