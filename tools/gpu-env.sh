# Sourced by the GPU scripts: the bundle's libraries and the machine's NVRTC on the loader path,
# and a kernel cache inside build-gpu. Expects B (the bundle folder).
nvrtc_dirs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  $(python3 -c 'import nvidia.cuda_nvrtc, os; print(os.path.join(nvidia.cuda_nvrtc.__path__[0], "lib"))' 2>/dev/null); do
  [[ -d $d ]] && nvrtc_dirs="$nvrtc_dirs:$d"
done
export LD_LIBRARY_PATH="$PWD/$B/lib$nvrtc_dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SINTER_CACHE_DIR="$PWD/build-gpu/kernel-cache"
