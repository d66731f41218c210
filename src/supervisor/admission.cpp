// The supervisor's admission of a message: what it means (decode.hpp, with the topic and key binding what it
// may claim), held by its partition, then skipped, dead-lettered or handed to the upload workers.
#include "supervisor/decode.hpp"
#include "supervisor/impl.hpp"

namespace gracedb {

namespace sd = supervisor_detail;

void Supervisor::Impl::admit(kafka::Message m) {
    auto job = std::make_shared<sd::Job>();
    job->tp = {std::move(m.topic), m.partition};
    job->offset = m.offset;
    job->key = std::move(m.key);
    job->headers = std::move(m.headers);
    job->timestamp = m.timestamp;
    auto d = sd::decode_message(m.value);
    job->value = std::move(m.value);
    job->graceid = std::move(d.graceid);
    job->producer_timestamp = d.producer_timestamp;
    if (d.kind == sd::Decoded::Kind::upload)
        if (auto problem = sd::binding_problem(*d.upload, job->tp.topic, job->key, instance)) {
            d.kind = sd::Decoded::Kind::dead;
            d.reason = *problem;
        }
    const bool skip = d.kind == sd::Decoded::Kind::skip;
    bool duplicate = false;
    job->epoch = partitions->admit(job->tp, job->offset, skip, duplicate);
    if (duplicate) return;  // delivered again while held or done (Partitions::admit)
    switch (d.kind) {
        case sd::Decoded::Kind::skip: stats.report(*job, sd::Outcome::skipped, d.reason); break;
        case sd::Decoded::Kind::dead: dead_letter(job, d.reason); break;
        case sd::Decoded::Kind::upload:
            job->upload = std::move(d.upload);
            pool->submit(job);
            break;
    }
}

// A revoked partition: its jobs waiting for a retry are left to its new owner.
void Supervisor::Impl::drop_waiting(const kafka::TopicPartition& tp) {
    for (const auto& j : retries.take(tp))
        stats.report(*j, sd::Outcome::dropped, "partition revoked; left to its new owner");
}

}  // namespace gracedb
