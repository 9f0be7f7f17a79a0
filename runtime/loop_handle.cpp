#include "coronet/runtime/loop_handle.hpp"

#include "coronet/runtime/detail/backend.hpp"
#include "coronet/runtime/detail/loop_access.hpp"

#include <cstdio>
#include <fcntl.h>
#include <unistd.h>

namespace coronet {
namespace detail {
namespace {

struct posted_message : message {
    explicit posted_message(std::function<void()> f) : fn(std::move(f)) {
        handle = [](message* m, bool deliver) noexcept {
            auto* self = static_cast<posted_message*>(m);
            if (deliver) {
                try {
                    self->fn();
                } catch (...) {
                    std::terminate(); // posted functions only schedule or cancel: none throws
                }
            }
            delete self;
        };
    }
    std::function<void()> fn;
};

struct spawn_message : message {
    explicit spawn_message(task<> work) : t(std::move(work)) {
        handle = [](message* m, bool deliver) noexcept {
            auto* self = static_cast<spawn_message*>(m);
            if (deliver) {
                try {
                    running_loop->spawn(std::move(self->t));
                } catch (...) { // out of memory for the spawn wrapper: the task is lost
                    std::fputs("coronet: spawn_on: no memory to start the task\n", stderr);
                }
            }
            delete self; // a task not started is destroyed here, on the target's thread
        };
    }
    task<> t;
};

// Runs a run_on call's work on the target, then sends the reply home.
task<> serve_remote(remote_call* c);

void send_reply(remote_call* c) noexcept {
    if (!send(*c->home, &c->reply)) c->release(); // home has stopped: nobody to answer
}

task<> serve_remote(remote_call* c) {
    co_await c->run();
    send_reply(c);
}

void on_request(message* m, bool deliver) noexcept {
    remote_call* c = static_cast<remote_call::node*>(m)->call;
    if (deliver) {
        try {
            running_loop->spawn(serve_remote(c));
            return;
        } catch (...) { // no memory for the frames: answer as if the loop had stopped
        }
    }
    c->drop_work();
    c->failure = make_error_code(error::loop_closed);
    send_reply(c);
}

void on_reply(message* m, bool deliver) noexcept {
    remote_call* c = static_cast<remote_call::node*>(m)->call;
    if (deliver && c->caller) {
        loop_access::remote_wait_end(*running_loop);
        loop_access::schedule(*running_loop, std::exchange(c->caller, {}));
    }
    c->release(); // the request's reference
}

void on_cancel(message* m, bool deliver) noexcept {
    remote_call* c = static_cast<remote_call::node*>(m)->call;
    if (deliver) scope_access::cancel(c->scope, false);
    c->release(); // the cancel's reference
}

void cancel_remote(void* p) noexcept {
    static_cast<remote_call*>(p)->request_cancel();
}

} // namespace

loop_shared::~loop_shared() {
    if (int fd = ring_fd.load(std::memory_order_relaxed); fd >= 0) ::close(fd);
}

// A duplicate, so the ring a MSG_RING names lives as long as this record
// (the group), even after its loop is gone: a late wakeup lands in a ring
// nobody reads, never in a reused fd.
void loop_shared::join_group_ring(int msg_ring_fd) noexcept {
    if (msg_ring_fd < 0 || group == nullptr) return;
    int fd = ::fcntl(msg_ring_fd, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) ring_fd.store(fd, std::memory_order_release);
}

void notify(loop_shared& target) noexcept {
    event_loop* self = running_loop;
    if (self != nullptr && target.group != nullptr &&
        target.group == loop_access::shared(*self).group) {
        int fd = target.ring_fd.load(std::memory_order_acquire);
        if (fd >= 0 && loop_access::io(*self).send_msg_ring(fd, target.wake)) return;
    }
    target.wake.signal();
}

bool send(loop_shared& target, message* m) noexcept {
    switch (target.box.push(m)) {
    case mailbox::push_result::first:
        notify(target);
        return true;
    case mailbox::push_result::queued:
        return true;
    case mailbox::push_result::closed:
        break;
    }
    return false;
}

bool post_to(loop_shared& target, std::function<void()> fn) {
    auto* m = new posted_message(std::move(fn));
    if (send(target, m)) return true;
    delete m;
    return false;
}

remote_call::remote_call() noexcept {
    request.call = reply.call = cancel.call = this;
    request.handle = on_request;
    reply.handle = on_reply;
    cancel.handle = on_cancel;
}

bool remote_call::start(loop_shared& to, std::coroutine_handle<> h) {
    event_loop& loop = running_loop_or_throw();
    target = &to;
    home = loop_access::shared_ptr(loop);
    caller = h;
    refs.fetch_add(1, std::memory_order_relaxed); // the request in flight
    if (send(to, &request)) {
        loop_access::remote_wait_begin(loop);
        return true;
    }
    refs.fetch_sub(1, std::memory_order_relaxed);
    caller = {};
    failure = make_error_code(error::loop_closed);
    return false;
}

void remote_call::request_cancel() noexcept {
    if (cancel_sent || !caller) return;
    cancel_sent = true;
    refs.fetch_add(1, std::memory_order_relaxed);
    if (!send(*target, &cancel)) release(); // stopped: its teardown cancels the work anyway
}

void remote_call::abandon() noexcept {
    if (!caller) return;
    caller = {}; // the reply, if it comes, resumes nobody
    if (event_loop* l = running_loop) loop_access::remote_wait_end(*l);
}

void attach_remote(cancel_scope* scope, wait_link& link, remote_call& call) noexcept {
    if (scope != nullptr) scope_access::attach(*scope, link, &call, cancel_remote);
}

} // namespace detail

result<void> loop_handle::post(std::function<void()> fn) const {
    if (!shared_ || !detail::post_to(*shared_, std::move(fn)))
        return make_error_code(error::loop_closed);
    return {};
}

result<void> spawn_on(const loop_handle& target, task<> t) {
    detail::loop_shared* s = detail::handle_access::shared(target);
    if (s == nullptr) return make_error_code(error::loop_closed);
    auto* m = new detail::spawn_message(std::move(t));
    if (detail::send(*s, m)) return {};
    delete m; // destroys the task here, unrun
    return make_error_code(error::loop_closed);
}

} // namespace coronet
