// The io_uring backend (see io_uring_backend.hpp): setup. The ring is set
// up with the best flags the kernel accepts, every opcode used is probed
// once, and the optional fast paths are chosen from what the probe (or a
// first try) shows; with fast paths off only plain setup and one-shot
// operations are used. Also the feature list backend_features() reports.
#include "coronet/runtime/detail/io_uring_backend.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace coronet::detail {
namespace {

constexpr unsigned ring_entries = 1024;

struct setup_choice {
    unsigned flags;
    const char* names;
};
// Best first; each step down drops flags an older kernel rejects with EINVAL.
constexpr setup_choice setup_choices[] = {
    {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
     "submit_all single_issuer defer_taskrun"},
    {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, "submit_all coop_taskrun"},
    {0, ""},
};

struct required_op {
    int opcode;
    const char* name;
};
constexpr required_op required_ops[] = {
    {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_CONNECT, "CONNECT"},
    {IORING_OP_RECV, "RECV"},         {IORING_OP_SEND, "SEND"},
    {IORING_OP_READ, "READ"},         {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_POLL_ADD, "POLL_ADD"}, {IORING_OP_RECVMSG, "RECVMSG"},
    {IORING_OP_SENDMSG, "SENDMSG"},
};

std::string errno_text(int err) {
    return std::strerror(err);
}

} // namespace

io_uring_backend::io_uring_backend(ready_queue& ready, const backend_config& config, wake_fd& wake)
    : backend(ready, config, wake) {}

io_uring_backend::~io_uring_backend() {
    flush(); // a MSG_RING to another loop may be queued still
    if (buf_ring_ != nullptr) {
        io_uring_unregister_buf_ring(&ring_, 0);
        std::free(buf_ring_);
    }
    if (ring_ok_) io_uring_queue_exit(&ring_);
}

std::string io_uring_backend::init(bool& resource_error) {
    int err = 0;
    for (const setup_choice& c : setup_choices) {
        if (!config_.fast_paths && c.flags != 0) continue; // plain mode: plain setup
        io_uring_params p{};
        p.flags = c.flags;
        err = -io_uring_queue_init_params(ring_entries, &ring_, &p);
        if (err == 0) {
            features_ = c.names;
            break;
        }
        if (err != EINVAL) break;
    }
    if (err != 0) {
        resource_error = err == ENOMEM;
        if (err == ENOSYS) return "io_uring_setup: not implemented by this kernel (ENOSYS)";
        if (err == EPERM)
            return "io_uring_setup: operation not permitted (EPERM: seccomp filter or "
                   "kernel.io_uring_disabled)";
        if (err == ENOMEM)
            return "io_uring_setup: out of memory (ENOMEM: raise RLIMIT_MEMLOCK, ulimit -l)";
        return "io_uring_setup: " + errno_text(err);
    }
    ring_ok_ = true;
    if (!(ring_.features & IORING_FEAT_NODROP))
        return "kernel lacks IORING_FEAT_NODROP (needs Linux 5.5 or later)";
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) return "io_uring probe failed (needs Linux 5.6 or later)";
    for (const required_op& op : required_ops) {
        if (!io_uring_opcode_supported(probe, op.opcode)) {
            io_uring_free_probe(probe);
            return std::string("kernel lacks IORING_OP_") + op.name;
        }
    }
    if (config_.fast_paths) {
        links_timeouts_ = io_uring_opcode_supported(probe, IORING_OP_LINK_TIMEOUT);
        send_zc_ = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
        msg_ring_ = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
    }
    io_uring_free_probe(probe);
    if (links_timeouts_) add_feature("linked_timeout");
    if (config_.fast_paths) {
        if (io_uring_register_ring_fd(&ring_) == 1) add_feature("registered_ring");
        // Multishot accept (5.19) and receive (6.0) have no opcode of their
        // own: they are tried, and an EINVAL completion turns them off.
        multishot_accept_ = multishot_recv_ = true;
        add_feature("multishot_accept");
        probe_buffer_ring(); // turns multishot_recv_ off when there is no buffer ring
    }
    if (msg_ring_) add_feature("msg_ring");
    if (send_zc_) {
        add_feature("send_zc");
        zero_copy_min_ = config_.zero_copy_min;
    }
    if (ring_.features & IORING_FEAT_EXT_ARG) add_feature("ext_arg");
    return {};
}

void io_uring_backend::add_feature(const char* f) {
    if (!features_.empty()) features_ += ' ';
    features_ += f;
}

// A fast path the kernel turned out not to have (EINVAL on first use).
void io_uring_backend::drop_feature(const char* f) {
    auto at = features_.find(f);
    if (at == std::string::npos) return;
    std::size_t end = at + std::strlen(f);
    if (end < features_.size() && features_[end] == ' ') ++end;
    features_.erase(at, end - at);
    while (!features_.empty() && features_.back() == ' ')
        features_.pop_back();
}

std::unique_ptr<backend> make_io_uring_backend(ready_queue& ready, const backend_config& config,
                                               wake_fd& wake, std::string& why_not,
                                               bool& resource_error) {
    auto b = std::make_unique<io_uring_backend>(ready, config, wake);
    why_not = b->init(resource_error);
    if (!why_not.empty()) return nullptr;
    return b;
}

} // namespace coronet::detail
