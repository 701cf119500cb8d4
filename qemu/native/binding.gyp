# Build description for the nicsim syscall addon (node-gyp); built by the root `install` script.
{
  "targets": [
    {
      "target_name": "nicsim_native",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/fds.cc",
        "src/mem.cc",
        "src/poll.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
