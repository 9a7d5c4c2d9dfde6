// Trivial DNS-ish responder: flips QR bit and echoes. Modes:
//  plain: blocking recvfrom/sendto
//  epoll: nonblocking recvfrom/sendto, epoll_wait on EAGAIN (grove's shape)
//  mmsg:  nonblocking recvmmsg/sendmmsg (batch B), epoll_wait on EAGAIN
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
static volatile sig_atomic_t stop;
static void on(int s){(void)s;stop=1;}
int main(int argc,char**argv){
  // usage: resp plain|epoll|mmsg [B] PORT
  const char*mode=argv[1]; int port=atoi(argv[argc-1]); int B=argc>3?atoi(argv[2]):32; if(B<1||B>64)B=32;
  int fd=socket(AF_INET,SOCK_DGRAM,0);
  struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(port)}; a.sin_addr.s_addr=htonl(INADDR_LOOPBACK);
  if(bind(fd,(void*)&a,sizeof a)){perror("bind");return 1;}
  struct sigaction sa={.sa_handler=on}; sigaction(SIGINT,&sa,0); sigaction(SIGTERM,&sa,0);
  long pk=0, batches=0, waits=0;
  int ep=-1;
  if(strcmp(mode,"plain")){ fcntl(fd,F_SETFL,O_NONBLOCK); ep=epoll_create1(0);
    struct epoll_event ev={.events=EPOLLIN|EPOLLET,.data.fd=fd}; epoll_ctl(ep,EPOLL_CTL_ADD,fd,&ev);}
  struct rusage r0; getrusage(RUSAGE_SELF,&r0);
  struct timespec t0; clock_gettime(CLOCK_MONOTONIC,&t0);
  static char bufs[64][2048]; static struct sockaddr_in6 addrs[64];
  static struct mmsghdr msgs[64]; static struct iovec iov[64];
  while(!stop){
    if(!strcmp(mode,"mmsg")){
      for(int i=0;i<B;i++){iov[i].iov_base=bufs[i];iov[i].iov_len=2048;
        msgs[i].msg_hdr=(struct msghdr){.msg_name=&addrs[i],.msg_namelen=sizeof addrs[i],.msg_iov=&iov[i],.msg_iovlen=1};}
      int n=recvmmsg(fd,msgs,B,0,0);
      if(n<0){ if(errno==EAGAIN){struct epoll_event e; waits++; epoll_wait(ep,&e,1,-1);continue;} if(errno==EINTR)continue; perror("recvmmsg");break;}
      for(int i=0;i<n;i++){bufs[i][2]|=0x80; iov[i].iov_len=msgs[i].msg_len;}
      int off=0; while(off<n){int s=sendmmsg(fd,msgs+off,n-off,0); if(s<0){if(errno==EINTR)continue;break;} off+=s;}
      pk+=n; batches++;
    } else {
      struct sockaddr_in6 pa; socklen_t pl=sizeof pa;
      ssize_t n=recvfrom(fd,bufs[0],2048,0,(void*)&pa,&pl);
      if(n<0){ if(errno==EAGAIN){struct epoll_event e; waits++; epoll_wait(ep,&e,1,-1);continue;} if(errno==EINTR)continue; perror("recv");break;}
      bufs[0][2]|=0x80; sendto(fd,bufs[0],n,0,(void*)&pa,pl); pk++; batches++;
    }
  }
  struct rusage r1; getrusage(RUSAGE_SELF,&r1);
  struct timespec t1; clock_gettime(CLOCK_MONOTONIC,&t1);
  double cpu=(r1.ru_utime.tv_sec-r0.ru_utime.tv_sec)+(r1.ru_utime.tv_usec-r0.ru_utime.tv_usec)/1e6+(r1.ru_stime.tv_sec-r0.ru_stime.tv_sec)+(r1.ru_stime.tv_usec-r0.ru_stime.tv_usec)/1e6;
  double wall=(t1.tv_sec-t0.tv_sec)+(t1.tv_nsec-t0.tv_nsec)/1e9;
  fprintf(stderr,"%s B=%d packets=%ld batches=%ld avg_batch=%.2f waits=%ld cpu=%.3fs wall=%.2fs cpu/pkt=%.3fus pps=%.0f\n",mode,B,pk,batches,(double)pk/(batches?batches:1),waits,cpu,wall,cpu*1e6/(pk?pk:1),pk/wall);
  return 0;
}
