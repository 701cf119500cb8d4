// Argument checking for the addon's entry points (type errors are caller bugs and throw).
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "native.h"

namespace nicsim {

static bool Fail(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

bool ArgFd(const Napi::CallbackInfo& info, size_t i, const char* fn, int* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) return Fail(info.Env(), std::string(fn) + ": fd must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= INT_MAX && std::floor(d) == d))
    return Fail(info.Env(), std::string(fn) + ": fd must be a non-negative integer");
  *out = static_cast<int>(d);
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* fn, uint8_t** data, size_t* len) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray()) return Fail(info.Env(), std::string(fn) + ": buffer must be a Uint8Array");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array)
    return Fail(info.Env(), std::string(fn) + ": buffer must be a Uint8Array");
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  uint8_t* base = static_cast<uint8_t*>(ab.Data());
  *len = ta.ByteLength();
  *data = base == nullptr ? nullptr : base + ta.ByteOffset();
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* fn, std::string* out) {
  Napi::Value v = info[i];
  if (!v.IsString()) return Fail(info.Env(), std::string(fn) + ": expected a string");
  *out = v.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos)
    return Fail(info.Env(), std::string(fn) + ": string must not contain NUL");
  return true;
}

bool ArgUint(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, double max,
             uint64_t* out) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) return Fail(info.Env(), std::string(fn) + ": " + what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max && std::floor(d) == d)) {
    Napi::RangeError::New(info.Env(), std::string(fn) + ": " + what + " out of range")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

bool ArgFdArray(const Napi::CallbackInfo& info, size_t i, const char* fn, std::vector<int>* out) {
  Napi::Value v = info[i];
  if (!v.IsArray()) return Fail(info.Env(), std::string(fn) + ": fds must be an array");
  Napi::Array a = v.As<Napi::Array>();
  uint32_t n = a.Length();
  out->clear();
  for (uint32_t k = 0; k < n; k++) {
    Napi::Value e = a.Get(k);
    if (!e.IsNumber()) return Fail(info.Env(), std::string(fn) + ": fds must hold numbers");
    double d = e.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= INT_MAX && std::floor(d) == d))
      return Fail(info.Env(), std::string(fn) + ": fds must hold non-negative integers");
    out->push_back(static_cast<int>(d));
  }
  return true;
}

}  // namespace nicsim
