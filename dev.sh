#!/usr/bin/env bash
# The two commands of the README's quick start:
#   ./dev.sh serve   set up the environment and the embedded data directory, run Mailyard
#   ./dev.sh test    set up the environment and the tools the tests drive, run the tests
set -euo pipefail
cd "$(dirname "$0")"

venv=.venv
stamp=$venv/.installed

setup_python() {
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    # Reinstall only when the dependencies changed.
    local want
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$venv/bin/pip" install --quiet --upgrade pip
        "$venv/bin/pip" install --quiet -e '.[test]'
        echo "$want" > "$stamp"
    fi
}

# What the end-to-end tests drive: git send-email, swaks, b4, gpg, sshd, and Debian's Chromium
# (with its driver) for the browser tests through Playwright. Installed when missing and
# this user may; otherwise the tests that need them skip and say why.
setup_test_tools() {
    local missing=()
    command -v git >/dev/null || missing+=(git)
    [ -x "$(git --exec-path 2>/dev/null)/git-send-email" ] || missing+=(git-email)
    command -v swaks >/dev/null || missing+=(swaks)
    command -v b4 >/dev/null || missing+=(b4)
    command -v xz >/dev/null || missing+=(xz-utils)
    command -v gpg >/dev/null || missing+=(gnupg)
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)  # git over SSH, through a real sshd
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
            echo "installing ${missing[*]}" >&2
            apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            echo "note: ${missing[*]} not installed; the tests that need them will skip" >&2
        fi
    fi
}

case "${1:-}" in
    serve)
        shift
        setup_python
        "$venv/bin/mailyard" init
        exec "$venv/bin/mailyard" serve "$@"
        ;;
    test)
        shift
        setup_python
        setup_test_tools
        exec "$venv/bin/pytest" -n 2 "$@"
        ;;
    *)
        echo "usage: $0 serve | test [pytest arguments]" >&2
        exit 2
        ;;
esac
