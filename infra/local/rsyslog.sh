# rsyslog with its GnuTLS network driver, for the syslog sink tests. Sourced by stack.sh after lib.sh.
#
# Only the packages are installed: each test starts its own rsyslogd on 127.0.0.1 with a throwaway
# certificate and stops it by its pid, so stack.sh starts no daemon here. Debian's package does not
# start the system rsyslogd where policy-rc.d forbids it, as in containers.

RSYSLOG_PACKAGES=(rsyslog rsyslog-gnutls)

rsyslog_installed() {
    local package
    for package in "${RSYSLOG_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || return 1
    done
}

rsyslog_install() {
    if rsyslog_installed; then
        log "rsyslog: packages already installed: ${RSYSLOG_PACKAGES[*]}"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found. Install ${RSYSLOG_PACKAGES[*]} with this system's package manager."
    if ((EUID != 0)); then
        die "installing ${RSYSLOG_PACKAGES[*]} needs root. Run 'sudo $0 install'."
    fi
    log "rsyslog: installing ${RSYSLOG_PACKAGES[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${RSYSLOG_PACKAGES[@]}"
}
