// seccomp_run: runs a program under a seccomp filter that refuses io_uring,
// the way Docker's default profile (EPERM) or a kernel built without io_uring
// (ENOSYS) refuses it. For the process tests of the backend fallback
// (test/examples/fallback_examples_test.py).
//
//   seccomp_run EPERM|ENOSYS PROGRAM [ARGS...]
//
// io_uring_setup, io_uring_enter and io_uring_register fail with that errno;
// every other system call is allowed, and system calls of another
// architecture (x32, i386 on x86-64) pass unfiltered. The filter is raw BPF
// (no libseccomp), installed after PR_SET_NO_NEW_PRIVS, so no privilege is
// needed; it is inherited across execve and by every child.
// Exit: PROGRAM's status; 2 for a bad command line, 1 if the filter or the
// exec fails (with one line on stderr).
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

#if defined(__x86_64__)
constexpr unsigned native_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned native_arch = AUDIT_ARCH_AARCH64;
#else
#error "seccomp_run: add this architecture's AUDIT_ARCH_ value"
#endif

bool refuse_io_uring(int err) {
    const unsigned ret_errno = SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA);
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, native_arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), // another ABI: not ours to filter
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, ret_errno),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3 || (std::strcmp(argv[1], "EPERM") != 0 && std::strcmp(argv[1], "ENOSYS") != 0)) {
        std::fprintf(stderr, "usage: seccomp_run EPERM|ENOSYS PROGRAM [ARGS...]\n");
        return 2;
    }
    int err = std::strcmp(argv[1], "EPERM") == 0 ? EPERM : ENOSYS;
    if (!refuse_io_uring(err)) {
        std::fprintf(stderr, "seccomp_run: cannot install the filter: %s\n", std::strerror(errno));
        return 1;
    }
    ::execvp(argv[2], argv + 2);
    std::fprintf(stderr, "seccomp_run: cannot run %s: %s\n", argv[2], std::strerror(errno));
    return 1;
}
