/*
 * The sandbox ("pause") process of every Pod on the test node.
 *
 * It holds the Pod's namespaces open and does nothing else: it sleeps until SIGTERM or
 * SIGINT, and, being PID 1 of the Pod when the PID namespace is shared, reaps whatever
 * children are re-parented to it. Built with `gcc -static` by hack/build-images.sh into an
 * image of one file, because no registry (and so no registry.k8s.io/pause) is reachable.
 */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
    (void)sig;
    _exit(0);
}

static void on_child(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction stop = {0};
    struct sigaction child = {0};
    stop.sa_handler = on_stop;
    child.sa_handler = on_child;
    child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    /* PID 1 ignores signals that have no handler, so SIGTERM needs one to end us. */
    if (sigaction(SIGTERM, &stop, NULL) != 0 || sigaction(SIGINT, &stop, NULL) != 0 ||
        sigaction(SIGCHLD, &child, NULL) != 0) {
        return 1;
    }
    for (;;) {
        pause();
    }
}
