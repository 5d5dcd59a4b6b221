//go:build windows
// +build windows

/*
Copyright (c) 2020 GMO GlobalSign, Inc.

Licensed under the MIT License (the "License"); you may not use this file except
in compliance with the License. You may obtain a copy of the License at

https://opensource.org/licenses/MIT

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package tpmkeys

import (
	"io"

	"github.com/google/go-tpm/legacy/tpm2"
)

func openTPM(path string) (io.ReadWriteCloser, error) {
	return tpm2.OpenTPM()
}
