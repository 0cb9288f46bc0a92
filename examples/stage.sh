#!/bin/sh
# A sample pipeline stage for `make demo`, fed on standard input: it tries what an untrusted stage
# might try and reports what the sandbox allowed and what it blocked.
try() { # try DESCRIPTION COMMAND...
    what=$1; shift
    if "$@" >/dev/null 2>&1; then echo "  allowed  $what"; else echo "  blocked  $what"; fi
}
echo "inside the sandbox: $(id)"
echo "root directory: $(ls / | tr '\n' ' ')"
try "read its input  ($DATA/input.txt)"          cat "$DATA/input.txt"
try "write its output (/work/result.txt)"         sh -c 'tr a-z A-Z < "$DATA/input.txt" > /work/result.txt'
try "scratch space   (/tmp)"                      sh -c 'echo x > /tmp/scratch'
try "modify its input"                            sh -c 'echo x >> "$DATA/input.txt"'
try "write outside /work and /tmp (/usr/evil)"    sh -c 'echo x > /usr/evil'
try "read /etc/shadow"                            cat /etc/shadow
try "read /etc/passwd"                            cat /etc/passwd
try "list /home and /root"                        ls /home /root
try "reach the network (connect to 1.1.1.1:53)"   bash -c 'exec 3<>/dev/tcp/1.1.1.1/53'
try "see the caller's secret (\$DEMO_SECRET)"     sh -c 'test -n "$DEMO_SECRET"'
echo "processes visible: $(ls -d /proc/[0-9]* | wc -l) (its own pid namespace)"
echo "environment inside: $(env | cut -d= -f1 | sort | tr '\n' ' ')"
echo "result: $(cat /work/result.txt 2>/dev/null)"
