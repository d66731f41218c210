// Sanitizer builds only (GRACEDB_SANITIZE set; linked into every target by the top CMakeLists.txt).
//
// librdkafka runs its threads and locks through C11's <threads.h>. glibc implements those on top of its
// internal pthread functions, without going through the symbols TSan intercepts: TSan would never learn of
// librdkafka's threads (it crashes or misreports when they call back into instrumented code: delivery
// reports, token refresh, logs) nor of the locks and condition variables that order what they hand to us,
// and would report every hand-over as a race in our code. These definitions take precedence over glibc's for
// librdkafka (the executable and the libraries it loads first are searched before libc) and forward each call
// to the pthread function TSan intercepts. glibc defines the C11 types as the pthread ones (same size and
// layout: mtx_t is a pthread_mutex_t, cnd_t a pthread_cond_t, thrd_t a pthread_t, once_flag a pthread_once_t).
#include <dlfcn.h>
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>

#define GRACEDB_INTERPOSE extern "C" __attribute__((visibility("default")))

namespace {

struct Start {
    thrd_start_t func;
    void* arg;
};

void* trampoline(void* p) {
    const Start s = *static_cast<Start*>(p);
    std::free(p);
    return reinterpret_cast<void*>(static_cast<std::intptr_t>(s.func(s.arg)));
}

int result(int rc) { return rc == 0 ? thrd_success : rc == ENOMEM ? thrd_nomem : rc == EBUSY ? thrd_busy
                                                     : rc == ETIMEDOUT ? thrd_timedout : thrd_error; }

pthread_mutex_t* mutex(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }

// Creating and destroying a mutex or condition variable goes to glibc directly, past the sanitizer: TSan
// records those as plain writes to the object, and librdkafka publishes and retires its objects through
// rwlocks and atomics that TSan does not see (see tsan.supp), so each would read as a race. Lock, unlock,
// wait and signal go through the intercepted calls: those are the edges that order what librdkafka hands us.
template <class F>
F real(const char* name) {
    void* f = ::dlsym(RTLD_NEXT, name);
    if (!f) std::abort();
    return reinterpret_cast<F>(f);
}
pthread_cond_t* cond(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }

static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t) && sizeof(cnd_t) == sizeof(pthread_cond_t) &&
              sizeof(thrd_t) == sizeof(pthread_t) && sizeof(once_flag) == sizeof(pthread_once_t));

}  // namespace

GRACEDB_INTERPOSE int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
    auto* s = static_cast<Start*>(std::malloc(sizeof(Start)));
    if (!s) return thrd_nomem;
    *s = {func, arg};
    const int rc = pthread_create(reinterpret_cast<pthread_t*>(thr), nullptr, trampoline, s);
    if (rc != 0) std::free(s);
    return result(rc);
}

GRACEDB_INTERPOSE int thrd_join(thrd_t thr, int* res) {
    void* value = nullptr;
    const int rc = pthread_join(static_cast<pthread_t>(thr), &value);
    if (rc == 0 && res) *res = static_cast<int>(reinterpret_cast<std::intptr_t>(value));
    return result(rc);
}

GRACEDB_INTERPOSE int thrd_detach(thrd_t thr) { return result(pthread_detach(static_cast<pthread_t>(thr))); }

GRACEDB_INTERPOSE int mtx_init(mtx_t* m, int type) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    static const auto init = real<int (*)(pthread_mutex_t*, const pthread_mutexattr_t*)>("pthread_mutex_init");
    const int rc = init(mutex(m), &attr);
    pthread_mutexattr_destroy(&attr);
    return result(rc);
}
GRACEDB_INTERPOSE int mtx_lock(mtx_t* m) { return result(pthread_mutex_lock(mutex(m))); }
GRACEDB_INTERPOSE int mtx_trylock(mtx_t* m) { return result(pthread_mutex_trylock(mutex(m))); }
GRACEDB_INTERPOSE int mtx_timedlock(mtx_t* m, const struct timespec* t) {
    return result(pthread_mutex_timedlock(mutex(m), t));
}
GRACEDB_INTERPOSE int mtx_unlock(mtx_t* m) { return result(pthread_mutex_unlock(mutex(m))); }
GRACEDB_INTERPOSE void mtx_destroy(mtx_t* m) {
    static const auto destroy = real<int (*)(pthread_mutex_t*)>("pthread_mutex_destroy");
    destroy(mutex(m));
}

GRACEDB_INTERPOSE int cnd_init(cnd_t* c) {
    static const auto init = real<int (*)(pthread_cond_t*, const pthread_condattr_t*)>("pthread_cond_init");
    return result(init(cond(c), nullptr));
}
GRACEDB_INTERPOSE int cnd_signal(cnd_t* c) { return result(pthread_cond_signal(cond(c))); }
GRACEDB_INTERPOSE int cnd_broadcast(cnd_t* c) { return result(pthread_cond_broadcast(cond(c))); }
GRACEDB_INTERPOSE int cnd_wait(cnd_t* c, mtx_t* m) { return result(pthread_cond_wait(cond(c), mutex(m))); }
GRACEDB_INTERPOSE int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* t) {
    return result(pthread_cond_timedwait(cond(c), mutex(m), t));
}
GRACEDB_INTERPOSE void cnd_destroy(cnd_t* c) {
    static const auto destroy = real<int (*)(pthread_cond_t*)>("pthread_cond_destroy");
    destroy(cond(c));
}

GRACEDB_INTERPOSE void call_once(once_flag* flag, void (*func)(void)) {
    pthread_once(reinterpret_cast<pthread_once_t*>(flag), func);
}
