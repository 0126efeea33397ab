#!/bin/bash
tag={{ cookiecutter.kubernetes_version }}
docker_wrapped_binaries=(
  "kube-apiserver"
  "kube-controller-manager"
  "kube-scheduler"
)
temp_dir="$(mktemp -d -t 'kube-server-XXXX')"
for binary in "${docker_wrapped_binaries[@]}"; do
  docker_tag="$(curl -sL "{{ release_bucket }}/v${tag}/bin/linux/amd64/${binary}.docker_tag")"
  curl -sLo "${temp_dir}/${binary}.tar" "{{ release_bucket }}/v${tag}/bin/linux/amd64/${binary}.tar"
  docker load -i "${temp_dir}/${binary}.tar"
  docker tag -f "gcr.io/google_containers/${binary}:${docker_tag}" "${binary}:${tag}"
done;
rm -rf "${temp_dir}";
exit $?
