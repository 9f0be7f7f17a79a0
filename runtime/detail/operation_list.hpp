#pragma once
// An intrusive FIFO of operations, linked through operation::prev/next: the
// backends' wait lists (epoll: per-fd readers and writers, pool waiters;
// io_uring: per-fd requests in the kernel, a socket's waiters, pool waiters).
// An operation is on at most one list at a time.

#include "coronet/runtime/detail/operation.hpp"

namespace coronet::detail {

struct operation_list {
    operation* head = nullptr;
    operation* tail = nullptr;

    void push(operation& op) noexcept {
        op.next = nullptr;
        op.prev = tail;
        (tail ? tail->next : head) = &op;
        tail = &op;
    }
    void remove(operation& op) noexcept {
        (op.prev ? op.prev->next : head) = op.next;
        (op.next ? op.next->prev : tail) = op.prev;
    }
    operation* pop() noexcept {
        operation* op = head;
        if (op != nullptr) remove(*op);
        return op;
    }
};

} // namespace coronet::detail
