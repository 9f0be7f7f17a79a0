#pragma once
// The records object_server and object_client exchange, as JSON frames
// (net/object_stream.hpp): a client sends an order, the server answers with a
// receipt. Any language can speak it: a 4-byte big-endian length, then JSON.
// CORONET_DEFINE_OBJECT range-checks the integer fields: a peer's
// {"quantity": 1e300} is a type_mismatch, not undefined behaviour.

#include <coronet/net/object_stream.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace example {

struct item {
    std::string sku;
    int quantity = 0;
    double price = 0;
};
CORONET_DEFINE_OBJECT(item, sku, quantity, price)

struct order {
    std::uint64_t id = 0;
    std::string customer;
    std::vector<item> items;
};
CORONET_DEFINE_OBJECT(order, id, customer, items)

struct line {
    std::string sku;
    int quantity = 0;
    double subtotal = 0;
};
CORONET_DEFINE_OBJECT(line, sku, quantity, subtotal)

/// The answer to an order; `error` is empty on success, else why the request
/// was refused (and the other fields are empty).
struct receipt {
    std::uint64_t order_id = 0;
    std::string customer;
    std::vector<line> lines;
    double total = 0;
    std::string error;
};
CORONET_DEFINE_OBJECT(receipt, order_id, customer, lines, total, error)

inline receipt make_receipt(const order& o) {
    receipt r{o.id, o.customer, {}, 0, {}};
    for (const item& i : o.items) {
        r.lines.push_back({i.sku, i.quantity, i.quantity * i.price});
        r.total += r.lines.back().subtotal;
    }
    return r;
}

} // namespace example
