// kafka::Connection: the one conversion between the connection fields and ProducerOptions / ConsumerOptions.
#include <gracedb/kafka/connection.hpp>

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/producer.hpp>

namespace gracedb::kafka {
namespace {

// ProducerOptions or ConsumerOptions: the connection fields have the same names in both.
template <class Options>
Connection read(const Options& o) {
    return {o.bootstrap_servers, o.instance_name, o.service_url,    o.use_ssl,     o.ca_cert_path,
            o.skip_hostname_verification, o.token_scope, o.token_audience, o.reload_cred, o.reload_buffer};
}

template <class Options>
void write(const Connection& c, Options& o) {
    o.bootstrap_servers = c.bootstrap_servers;
    o.instance_name = c.instance_name;
    o.service_url = c.service_url;
    o.use_ssl = c.use_ssl;
    o.ca_cert_path = c.ca_cert_path;
    o.skip_hostname_verification = c.skip_hostname_verification;
    if (c.token_scope) o.token_scope = *c.token_scope;
    o.token_audience = c.token_audience;
    o.reload_cred = c.reload_cred;
    o.reload_buffer = c.reload_buffer;
}

}  // namespace

Connection Connection::from(const ProducerOptions& options) { return read(options); }
Connection Connection::from(const ConsumerOptions& options) { return read(options); }
void Connection::apply_to(ProducerOptions& options) const { write(*this, options); }
void Connection::apply_to(ConsumerOptions& options) const { write(*this, options); }

}  // namespace gracedb::kafka
