// Shared declarations of the nicsim syscall addon: argument checks and the per-module tables.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nicsim {

// Argument readers. Each returns false after throwing a JS TypeError/RangeError: a wrong type
// or shape of argument is a bug in the TypeScript caller, never a runtime condition.
bool ArgFd(const Napi::CallbackInfo& info, size_t i, const char* fn, int* out);
bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* fn, uint8_t** data, size_t* len);
bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* fn, std::string* out);
// A JS number that is an integer in [0, max]; `max` must not exceed 2^53 - 1.
bool ArgUint(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, double max,
             uint64_t* out);
bool ArgFdArray(const Napi::CallbackInfo& info, size_t i, const char* fn, std::vector<int>* out);

// Runtime conditions come back as a negative errno number.
inline Napi::Value NegErrno(Napi::Env env, int e) { return Napi::Number::New(env, -static_cast<double>(e)); }

void InitFds(Napi::Env env, Napi::Object exports);
void InitMem(Napi::Env env, Napi::Object exports);
void InitPoll(Napi::Env env, Napi::Object exports);

}  // namespace nicsim
