#pragma once
/// \file
/// when_all and when_any: await several tasks at once, like asyncio.gather and
/// asyncio.wait(FIRST_COMPLETED).
///
///     auto [a, b] = co_await coronet::when_all(fetch(x), fetch(y));
///     auto any = co_await coronet::when_any(conn.recv_task(buf), coronet::sleep_task(1s));
///
/// when_all(t...) → std::tuple of every task's value (void becomes
/// std::monostate). The first failure — an exception, or a result<> holding an
/// error — cancels the others; all are joined before when_all returns; an
/// exception is then rethrown (later ones go to stderr).
///
/// when_any(t...) → any_result: `index` of the first task to finish and, in
/// `results`, an optional per task. The others are cancelled and joined before
/// when_any returns. A loser that completed anyway (bytes that arrived as the
/// winner finished) keeps its value in `results`: nothing is dropped, so check
/// every optional. Exceptions are rethrown after the join.
///
/// Both run their tasks in child scopes of the awaiting coroutine's scope:
/// cancelling the caller cancels them too. Each task costs one frame.

#include "coronet/runtime/result.hpp"
#include "coronet/runtime/task.hpp"
#include "coronet/runtime/task_group.hpp"

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace coronet {

namespace detail {
template <class T>
using value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class T>
constexpr bool is_result_v = false;
template <class T>
constexpr bool is_result_v<result<T>> = true;

template <class T>
task<> store_into(task<T> t, std::optional<value_t<T>>& slot, task_group& group, bool first_wins,
                  std::optional<std::size_t>& winner, std::size_t index) {
    if constexpr (std::is_void_v<T>) {
        co_await std::move(t);
        slot.emplace();
    } else {
        slot.emplace(co_await std::move(t));
        if constexpr (is_result_v<T>)
            if (!first_wins && !*slot) group.cancel(); // gather: fail fast on an error result
    }
    if (first_wins && !winner) {
        winner = index;
        group.cancel();
    }
}
} // namespace detail

/// What when_any returns: which task won, and every task's value if it had one.
template <class... T>
struct any_result {
    std::size_t index = 0; ///< the task that finished first
    /// Per task, its value (std::monostate for void) if it finished with one;
    /// a loser that completed anyway keeps its value here.
    std::tuple<std::optional<detail::value_t<T>>...> results;
};

/// co_await → std::tuple of every task's value (void: std::monostate), like
/// asyncio.gather. The tasks run concurrently in child scopes of the
/// caller's; the first failure (an exception, or a result<> holding an error)
/// cancels the others, all are joined, then an exception is rethrown (a
/// failed result<> is simply in the tuple). Cancelling the caller cancels
/// them all.
template <class... T>
task<std::tuple<detail::value_t<T>...>> when_all(task<T>... tasks) {
    std::tuple<std::optional<detail::value_t<T>>...> slots;
    std::optional<std::size_t> unused;
    task_group group(co_await detail::current_scope{});
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (group.spawn(
             detail::store_into(std::move(tasks), std::get<I>(slots), group, false, unused, I)),
         ...);
    }
    (std::index_sequence_for<T...>{});
    co_await group.join();
    co_return std::apply(
        [](auto&... s) { return std::tuple<detail::value_t<T>...>(std::move(*s)...); }, slots);
}

/// co_await → any_result: the index of the first task to finish, and each
/// task's value if it had one. The others are cancelled and joined before it
/// returns; a loser that completed anyway keeps its value in `results`, so
/// nothing is dropped. Exceptions are rethrown after the join. Cancelling
/// the caller cancels them all.
template <class... T>
task<any_result<T...>> when_any(task<T>... tasks) {
    static_assert(sizeof...(T) > 0, "when_any needs at least one task");
    any_result<T...> out;
    std::optional<std::size_t> winner;
    task_group group(co_await detail::current_scope{});
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (group.spawn(detail::store_into(std::move(tasks), std::get<I>(out.results), group, true,
                                        winner, I)),
         ...);
    }
    (std::index_sequence_for<T...>{});
    co_await group.join();
    out.index = winner.value_or(0);
    co_return out;
}

} // namespace coronet
